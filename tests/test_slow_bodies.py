"""Issue 22, item 8: behind the documented nginx (docs/nginx.conf), the web
answers while 40 clients each send a request body a byte a second; gunicorn
alone would hold a thread for each (bench/slow_bodies.py shows both)."""

import os
import shutil
from pathlib import Path

import pytest

from bench.slow_bodies import ANSWER_WITHIN, measure, web_behind_nginx

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@pytest.mark.skipif(NGINX is None and os.environ.get("CI") != "true", reason="nginx is not installed")
def test_behind_nginx_the_web_answers_while_clients_send_slowly():
    with web_behind_nginx() as (_, proxy_port):
        times = measure(proxy_port, 40)
    assert all(t is not None and t <= ANSWER_WITHIN for t in times), times
