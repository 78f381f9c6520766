"""Page weight: what a browser transfers for each page's first load (empty
cache), what a second load asks again, and what a 50-row member table
fragment costs. Measured in headless Chromium, which sends
Accept-Encoding as browsers do; the sizes are bytes on the wire (headers
plus compressed bodies), as Chromium's network stack counts them.

    .venv/bin/python bench/weight.py

SQLite in a temporary instance/, the demo data (`flask seed-demo`) with
Digital Post enabled. Run `flask digest compile` first (./bin/test does) to
measure fingerprinted static files. The baseline is the login page's HTML
alone. Exits 1 when a target is missed: every first load at most 30 KB, a
50-row table fragment at most 8 KB.
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POSTBUD_INSTANCE_DIR", tempfile.mkdtemp(prefix="postbud-bench-"))

from flask_migrate import upgrade

from app import create_app
from bench.common import serve

FIRST_LOAD_LIMIT = 30 * 1024
FRAGMENT_LIMIT = 8 * 1024
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def transferred(requests) -> int:
    total = 0
    for request in requests:
        sizes = request.sizes()
        total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
    return total


def setup(app):
    from click.testing import CliRunner

    from cli import DEMO_ADMIN, DEMO_ORG
    from crypto import encrypt
    from extensions import db
    from models import DigitalPostIntegration, Organization, User
    from models.base import utcnow
    from models.integration import State

    with app.app_context():
        upgrade()
        CliRunner().invoke(app.cli, ["seed-demo"], catch_exceptions=False)
        org = db.session.scalar(db.select(Organization).filter_by(name=DEMO_ORG))
        admin = db.session.scalar(db.select(User).filter_by(email=DEMO_ADMIN[0]))
        integration = DigitalPostIntegration.for_org(org.id)
        integration.state = State.ACTIVE
        integration.api_key_encrypted = encrypt("bench-key-0000")
        integration.api_key_last4 = "0000"
        integration.sender_cvr = "13585628"
        integration.activated_by_id = admin.id
        integration.activated_at = utcnow()
        db.session.commit()
        return org.id, DEMO_ADMIN


def main():
    from playwright.sync_api import sync_playwright

    instance = Path(os.environ["POSTBUD_INSTANCE_DIR"])
    app = create_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{instance / 'bench.sqlite'}",
        SESSION_COOKIE_SECURE=False,
        REDIS_URL=os.environ.get("REDIS_URL", ""),
    )
    org_id, (email, _name, password, *_rest) = setup(app)
    hits = []

    def counted(environ, start_response):  # what reaches the server, cached or not
        hits.append(environ["PATH_INFO"])
        return app(environ, start_response)

    base, stop = serve(counted)
    pages = {
        "login": "/login",
        "surveys": f"/orgs/{org_id}/surveys/",
        "settings": f"/orgs/{org_id}/settings/",
        "integration": f"/orgs/{org_id}/settings/digital-post/",
        "member table (add)": f"/orgs/{org_id}/settings/digital-post/access/add",
        "wizard": f"/orgs/{org_id}/settings/digital-post/setup",
        "audit log": f"/orgs/{org_id}/settings/audit/",
    }
    failed = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            login = browser.new_context(base_url=base)
            page = login.new_page()
            page.goto("/login")
            page.fill("#email", email)
            page.fill("#password", password)
            with page.expect_navigation():
                page.click("main button[type=submit]")
            assert "/login" not in page.url, page.url
            state = login.storage_state()
            login.close()

            print(f"{'page':<22} {'first load':>12} {'requests':>9} {'again':>12} {'asked again':>12}")
            for name, path in pages.items():
                context = browser.new_context(base_url=base, storage_state=None if name == "login" else state)
                page = context.new_page()
                seen = []
                page.on("requestfinished", lambda request: seen.append(request))
                page.goto(path, wait_until="networkidle")
                first, count = transferred(seen), len(seen)
                if os.environ.get("WEIGHT_DETAIL"):
                    for r in seen:
                        z = r.sizes()
                        enc = r.response().headers.get("content-encoding", "-")
                        print(
                            f"    {r.url[-50:]:<50} {z['responseBodySize']:7d} + {z['responseHeadersSize']:5d}  {enc}"
                        )
                seen.clear()
                hits.clear()
                page.goto(path, wait_until="networkidle")
                again, asked = transferred(seen), len(hits)
                context.close()
                mark = "" if first <= FIRST_LOAD_LIMIT else "   over 30 KB"
                print(f"{name:<22} {first / 1024:9.1f} KB {count:9d} {again / 1024:9.1f} KB {asked:12d}{mark}")
                if first > FIRST_LOAD_LIMIT:
                    failed.append(name)

            context = browser.new_context(base_url=base, storage_state=state)
            page = context.new_page()
            page.goto(pages["member table (add)"], wait_until="networkidle")
            with page.expect_response(lambda r: "page=2" in r.url) as info:
                page.click("a[rel=next]")
            response = info.value
            response.finished()
            sizes = response.request.sizes()
            fragment = sizes["responseBodySize"] + sizes["responseHeadersSize"]
            raw = len(response.body())
            rows = page.locator("#member-table tbody tr").count()
            context.close()
            browser.close()
        mark = "" if fragment <= FRAGMENT_LIMIT else "   over 8 KB"
        print(
            f"\n{rows}-row table fragment: {fragment / 1024:.1f} KB transferred "
            f"({raw / 1024:.1f} KB uncompressed, {response.headers.get('content-encoding', 'identity')}){mark}"
        )
        if fragment > FRAGMENT_LIMIT:
            failed.append("table fragment")
    finally:
        stop()
        from extensions import embedded_dir, stop_embedded_redis

        if not os.environ.get("REDIS_URL"):  # the app's config holds the embedded URL by now
            stop_embedded_redis(embedded_dir(app))  # the server this run started
    if failed:
        print("\nMissed:", ", ".join(failed))
        sys.exit(1)
    print("\nEvery first load within 30 KB and the fragment within 8 KB.")


if __name__ == "__main__":
    main()
