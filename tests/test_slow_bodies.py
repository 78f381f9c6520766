"""Issue 22, item 8: behind the documented nginx (docs/nginx.conf), the web
answers while 40 clients each send a request body a byte a second; gunicorn
alone would hold a thread for each (bench/slow_bodies.py shows both)."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from bench.slow_bodies import ANSWER_WITHIN, free_port, measure, start_nginx, start_web, wait_for

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@pytest.mark.skipif(NGINX is None and os.environ.get("CI") != "true", reason="nginx is not installed")
def test_behind_nginx_the_web_answers_while_clients_send_slowly():
    web_port, proxy_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="postbud-slow-") as tmp:
        web = start_web(web_port, str(Path(tmp) / "instance"))
        proxy = start_nginx(proxy_port, web_port, Path(tmp) / "nginx")
        try:
            wait_for(f"http://127.0.0.1:{web_port}/healthz")
            wait_for(f"http://127.0.0.1:{proxy_port}/healthz")
            times = measure(proxy_port, 40)
        finally:
            proxy.terminate()
            web.terminate()
            proxy.wait(10)
            web.wait(10)
    assert all(t is not None and t <= ANSWER_WITHIN for t in times), times
