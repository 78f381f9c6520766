"""What a page weighs on the wire: compressed pages and fragments,
fingerprinted static files cached for a year, rows without attributes of
their own. bench/weight.py measures the totals in Chromium."""

import re
import subprocess
import sys

import pytest

from app import create_app
from tests.fixtures.services import app_config

pytestmark = pytest.mark.usefixtures("active_integration")
BROWSER = {"Accept-Encoding": "gzip, deflate, br, zstd"}


@pytest.fixture
def digested_app(app):
    """An app started after `flask digest compile`, as ./bin/run and a
    deployment start it (compiled here too, for a file edited since)."""
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "digest", "compile"], check=True, capture_output=True
    )
    fresh = create_app(
        **{k: app.config[k] for k in app_config(app.config["SQLALCHEMY_DATABASE_URI"], app.config["REDIS_URL"])}
    )
    return fresh


def test_pages_and_fragments_are_compressed(as_admin, org):
    page = as_admin.client.get(f"/orgs/{org.id}/settings/", headers=BROWSER)
    assert page.status_code == 200 and page.headers["Content-Encoding"] == "br"
    assert "Accept-Encoding" in page.headers["Vary"]
    fragment = as_admin.client.get(
        f"/orgs/{org.id}/settings/digital-post/access/add",
        headers=BROWSER | {"HX-Request": "true", "HX-Target": "member-table"},
    )
    assert fragment.headers["Content-Encoding"] == "br"
    assert (
        as_admin.client.get(f"/orgs/{org.id}/settings/", headers={"Accept-Encoding": "gzip"}).headers[
            "Content-Encoding"
        ]
        == "gzip"
    )


def test_static_files_are_fingerprinted_compressed_and_cached_for_good(digested_app):
    client = digested_app.test_client()
    html = client.get("/login").get_data(as_text=True)
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
    assert len(urls) == 4 and all(re.search(r"-[0-9a-f]{32}\.", u) for u in urls), urls
    for url in urls:
        response = client.get(url, headers=BROWSER)
        assert response.status_code == 200
        assert "immutable" in response.headers["Cache-Control"]
        assert "max-age=315360000" in response.headers["Cache-Control"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers.get("Content-Encoding") == "br", url
    # The same file under its plain name is checked again on every use.
    plain = client.get("/static/app.css", headers=BROWSER)
    assert plain.status_code == 200 and plain.headers["Cache-Control"] == "no-cache"


def test_rows_carry_no_htmx_attributes(as_admin, org, make_members):
    """The table's requests are declared once, on the table: 50 rows cost
    no more hx- attributes than 1."""

    def hx_count(members):
        html = as_admin.client.get(
            f"/orgs/{org.id}/settings/digital-post/access/add",
            query_string={"q": members},
            headers={"HX-Request": "true", "HX-Target": "member-table"},
        ).get_data(as_text=True)
        return len(re.findall(r"\shx-[a-z-]+=", html)), html.count("<tr>")

    make_members(org, [f"Ib {i:02d}" for i in range(50)])
    make_members(org, ["Bo Berg"], prefix="b")
    many, rows = hx_count("ib")
    one, single = hx_count("bo")
    assert rows == 51 and single == 2  # with the header row
    assert many == one
