"""bin/respawn, which the Procfile runs every process under (issue 9, item 9):
one killed process comes back instead of honcho stopping the whole stack."""

import signal
import subprocess
import time
from pathlib import Path

RESPAWN = str(Path(__file__).resolve().parent.parent / "bin" / "respawn")


def test_a_process_that_dies_is_started_again(tmp_path):
    log = tmp_path / "starts"
    proc = subprocess.Popen([RESPAWN, "sh", "-c", f"echo start >> {log}; exit 3"], stderr=subprocess.PIPE)
    time.sleep(2.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0
    assert log.read_text().count("start") >= 2
    assert b"exited with status 3" in proc.stderr.read()


def test_stopping_it_stops_its_process(tmp_path):
    pidfile = tmp_path / "pid"
    proc = subprocess.Popen([RESPAWN, "sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"])
    for _ in range(50):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.1)
    child = int(pidfile.read_text())
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=5) == 0
    assert subprocess.run(["kill", "-0", str(child)], capture_output=True).returncode != 0


def test_a_stop_that_comes_as_the_process_starts_still_stops_it():
    """The signal lands between the fork and respawn knowing its child's pid:
    the child must still be stopped (on a loaded machine it was left running now and then)."""
    for _ in range(100):
        proc = subprocess.Popen([RESPAWN, "sh", "-c", "kill -INT $PPID; exec sleep 30"])
        assert proc.wait(timeout=10) == 0
