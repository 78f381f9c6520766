"""With Redis down (issue 9, item 8): login and every page work; what needs
the queue or the selection says so, changes nothing, and is never a 500.
The rate limits fail open (views/ratelimit.py says why)."""

from conftest import PASSWORD, Session
from models import DigitalPostIntegration, db
from tests.test_sharing import survey, with_access  # noqa: F401 (fixtures)


def test_login_works_and_a_wrong_password_is_still_refused(app, admin, redis_down):
    assert Session(app.test_client()).login(admin, password="wrong").status_code == 401
    assert Session(app.test_client()).login(admin, password=PASSWORD).status_code == 302


def test_every_page_opens(app, as_admin, member, org, active_integration, survey, redis_down):
    for path in [
        "/surveys/",
        "/settings/",
        "/settings/digital-post/",
        "/settings/digital-post/access/add",
        "/settings/digital-post/access/remove",
        "/settings/audit/",
    ]:
        response = as_admin.get(f"/orgs/{org.id}{path}", follow_redirects=True)
        assert response.status_code == 200, path
    as_member = Session(app.test_client())
    as_member.login(member)
    for path in ["/surveys/", f"/surveys/{survey.id}/", f"/surveys/{survey.id}/share"]:
        response = as_member.get(f"/orgs/{org.id}{path}", follow_redirects=True)
        assert response.status_code == 200, path


def test_the_member_table_shows_and_says_that_selecting_waits(as_admin, org, active_integration, redis_down):
    page = as_admin.get(f"/orgs/{org.id}/settings/digital-post/access/add").get_data(as_text=True)
    assert "Det er ikke muligt at vælge medlemmer lige nu" in page
    assert "Anne Admin" in page  # the list itself is there


def test_selecting_and_adding_are_refused_with_a_message(as_admin, org, active_integration, redis_down):
    base = f"/orgs/{org.id}/settings/digital-post/access"
    for response in [
        as_admin.post(base + "/add/select", {"scope": "page", "checked": "true"}, htmx=True),
        as_admin.post(base + "/add", htmx=True),
        as_admin.post(base + "/remove", htmx=True),
    ]:
        assert response.status_code == 503
        assert "Intet blev ændret" in response.get_data(as_text=True) or "intet blev ændret" in response.get_data(
            as_text=True
        )
    assert db.session.scalar(db.select(db.func.count()).select_from(db.metadata.tables["access_block"])) == 0


def test_deactivation_works_without_the_queue(as_admin, org, active_integration, redis_down):
    as_admin.get(f"/orgs/{org.id}/settings/digital-post/")
    response = as_admin.post(f"/orgs/{org.id}/settings/digital-post/deactivate", {"password": PASSWORD}, htmx=True)
    assert response.status_code == 204
    db.session.expire_all()
    assert not DigitalPostIntegration.find(org.id).is_active


def test_a_share_confirmed_while_redis_is_down_is_sent_once_it_is_back(
    app, as_member, survey, with_access, sandbox, run_jobs
):
    from jobs.worker import AppWorker
    from tests.test_sharing import CPRS, compose, confirm

    draft, schedule = compose(as_member, survey, "\n".join(CPRS))
    working = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    app.extensions.pop("redis", None)
    confirm(as_member, draft, schedule)
    page = as_member.get(draft + "/").get_data(as_text=True)
    assert "køen svarede ikke" in page
    app.config["REDIS_URL"] = working
    app.extensions.pop("redis", None)
    run_jobs(AppWorker)  # the worker's housekeeping finds the round without a job
    assert [len(sandbox.mailbox(c)) for c in CPRS] == [1, 1, 1]
