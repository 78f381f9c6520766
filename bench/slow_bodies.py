"""Slow request bodies: does the web still answer while N clients each send
a body a byte a second?

    .venv/bin/python bench/slow_bodies.py [CLIENTS]

Starts the web as the Procfile does (gunicorn, 2 workers x 4 threads) and
nginx with docs/nginx.conf in front of it. For each way in (gunicorn
directly, the baseline; then through nginx), it opens CLIENTS connections
(default 40) that announce a 100 KB form and send it slowly, then times
GET /healthz ten times while they hang on. Prints the median and worst
time, or "no answer" after 5 s.

Exit 1 when /healthz through nginx does not answer within 1 s while the
slow clients are connected. Needs nginx (Debian: nginx-light).
"""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ANSWER_WITHIN = 1.0
GIVE_UP = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def start_web(port: int, instance: str) -> subprocess.Popen:
    env = dict(os.environ, POSTBUD_INSTANCE_DIR=instance)
    gunicorn = str(ROOT / ".venv" / "bin" / "gunicorn")
    command = [gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "app:create_app()"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_nginx(listen: int, upstream: int, prefix: Path) -> subprocess.Popen:
    conf = (ROOT / "docs" / "nginx.conf").read_text()
    conf = conf.replace("server 127.0.0.1:5000;", f"server 127.0.0.1:{upstream};")
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "nginx.conf").write_text(conf)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    settings = f"daemon off; pid {prefix}/nginx.pid; error_log {prefix}/logs/error.log;"
    return subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", settings])


@contextmanager
def web_behind_nginx():
    """The web as the Procfile runs it and nginx with docs/nginx.conf in
    front, both up; yields (web port, nginx port)."""
    web_port, proxy_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="postbud-slow-") as tmp:
        web = start_web(web_port, str(Path(tmp) / "instance"))
        proxy = start_nginx(proxy_port, web_port, Path(tmp) / "nginx")
        try:
            wait_for(f"http://127.0.0.1:{web_port}/healthz")
            wait_for(f"http://127.0.0.1:{proxy_port}/healthz")
            yield web_port, proxy_port
        finally:
            proxy.terminate()
            web.terminate()
            proxy.wait(10)
            web.wait(10)


def slow_client(port: int, stop: threading.Event) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(
                b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 100000\r\n\r\n"
            )
            while not stop.wait(1.0):
                s.sendall(b"a")
    except OSError:
        pass  # dropped by a timeout: what nginx is for


def measure(port: int, clients: int) -> list[float | None]:
    stop = threading.Event()
    threads = [threading.Thread(target=slow_client, args=(port, stop), daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(2)  # every slow client connected and sending
    times = []
    for _ in range(10):
        started = time.perf_counter()
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=GIVE_UP).raise_for_status()
            times.append(time.perf_counter() - started)
        except httpx.HTTPError:
            times.append(None)
    stop.set()
    return times


def show(name: str, times: list[float | None]) -> float:
    answered = [t for t in times if t is not None]
    worst = GIVE_UP if len(answered) < len(times) else max(answered)
    median = statistics.median(t if t is not None else GIVE_UP for t in times)
    unanswered = len(times) - len(answered)
    print(
        f"{name:34} median {median * 1000:8.1f} ms   worst "
        + (f"{worst * 1000:8.1f} ms" if not unanswered else f"no answer in {GIVE_UP:.0f} s ({unanswered} of 10)")
    )
    return worst


def main() -> int:
    clients = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        raise SystemExit("nginx is not installed (Debian: apt-get install nginx-light)")
    with web_behind_nginx() as (web_port, proxy_port):
        print(f"/healthz while {clients} clients send a body a byte a second:\n")
        show("gunicorn alone (baseline)", measure(web_port, clients))
        worst = show("through nginx (docs/nginx.conf)", measure(proxy_port, clients))
    ok = worst <= ANSWER_WITHIN
    print(f"\ngoal: through nginx, every answer within {ANSWER_WITHIN:.0f} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
