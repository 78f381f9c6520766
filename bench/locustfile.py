"""Locust users for bench/load.py: admins filtering the member table, and
members watching a share's status, with the HTMX headers the pages send.
The accounts and ids come from the environment that bench/load.py sets."""

import os
import random
import re

from locust import HttpUser, between, task

ORG = os.environ["LOAD_ORG_ID"]
SURVEY = os.environ["LOAD_SURVEY_ID"]
SHARE = os.environ["LOAD_SHARE_ID"]
PASSWORD = os.environ["LOAD_PASSWORD"]
FRAGMENT = {"HX-Request": "true", "HX-Target": "member-table"}
SEARCHES = ["", "ann", "søren", "jens", "nielsen", "zzz-no-match", "mette", "hansen"]
DEPARTMENTS = ["", "Nord", "Syd"]


def log_in(client, email):
    page = client.get("/login", name="login page").text
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    client.post("/login", data={"email": email, "password": PASSWORD}, headers={"X-CSRFToken": token}, name="log in")


class Admin(HttpUser):
    wait_time = between(0.2, 0.6)
    weight = 1

    def on_start(self):
        log_in(self.client, os.environ["LOAD_ADMIN_EMAIL"])

    @task
    def filter_members(self):
        args = {"q": random.choice(SEARCHES), "department": random.choice(DEPARTMENTS), "page": random.randint(1, 5)}
        self.client.get(
            f"/orgs/{ORG}/settings/digital-post/access/add",
            params={k: v for k, v in args.items() if v},
            headers=FRAGMENT,
            name="member table fragment",
        )


class Member(HttpUser):
    wait_time = between(1.5, 2.5)  # the status card polls every 2 s
    weight = 2

    def on_start(self):
        log_in(self.client, os.environ["LOAD_MEMBER_EMAIL"])

    @task
    def poll_status(self):
        with self.client.get(
            f"/orgs/{ORG}/surveys/{SURVEY}/digital-post/{SHARE}/counts",
            headers={"HX-Request": "true", "HX-Target": "share-status"},
            name="share status poll",
            catch_response=True,
        ) as response:
            if response.status_code in (200, 286):  # 286: nothing runs, htmx stops polling
                response.success()
