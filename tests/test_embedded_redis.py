"""The embedded Redis of a developer's machine (issue 9, item 7): it keeps
its data on disk, comes back when it dies, and is stopped by whoever started
it. Each test runs Postbud in its own process on its own instance/."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_postbud(instance: Path, code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env["POSTBUD_INSTANCE_DIR"] = str(instance)
    script = "from app import create_app\napp = create_app()\nwith app.app_context():\n" + textwrap.indent(
        textwrap.dedent(code), "    "
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def flask(instance: Path, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env["POSTBUD_INSTANCE_DIR"] = str(instance)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def server_running(instance: Path) -> bool:
    pidfile = instance / "redis.pid"
    if not pidfile.exists():
        return False
    try:
        os.kill(int(pidfile.read_text()), 0)
    except (ProcessLookupError, ValueError):
        return False
    return True


def test_a_scheduled_job_survives_the_server_being_killed_and_the_process_reconnects(tmp_path):
    instance = tmp_path / "instance"
    try:
        out = run_postbud(
            instance,
            """
            import os, signal, time
            from datetime import timedelta
            from extensions import get_queue, get_redis
            from models.base import utcnow

            redis = get_redis()
            print("save:", redis.config_get("save")["save"])
            print("aof:", redis.config_get("appendonly")["appendonly"])
            get_queue().enqueue_at(utcnow() + timedelta(hours=1), print, "later", job_id="a-retry")
            redis.incr("postbud:ratelimit:login-account:x")
            time.sleep(1.2)  # the append-only file is synced every second
            os.kill(int(open(app.instance_path + "/redis.pid").read()), signal.SIGKILL)
            time.sleep(0.3)
            # The same process, the same connection pool: it starts the server again.
            print("scheduled:", get_queue().scheduled_job_registry.get_job_ids())
            print("counter:", redis.get("postbud:ratelimit:login-account:x"))
        """,
        )
    finally:
        flask(instance, "embedded-redis", "stop")
    assert "save: 60 1" in out
    assert "aof: yes" in out
    assert "scheduled: ['postbud-a-retry']" in out
    assert "counter: b'1'" in out


def test_embedded_redis_stop_stops_the_server_and_keeps_its_data(tmp_path):
    instance = tmp_path / "instance"
    run_postbud(
        instance,
        """
        from extensions import get_redis
        get_redis().set("kept", "yes")
    """,
    )
    assert server_running(instance)
    result = flask(instance, "embedded-redis", "stop")
    assert result.returncode == 0 and "stopped" in result.stdout
    assert not server_running(instance)
    out = run_postbud(
        instance,
        """
        from extensions import get_redis
        print(get_redis().get("kept"))
    """,
    )
    flask(instance, "embedded-redis", "stop")
    assert "b'yes'" in out
    assert not server_running(instance)
