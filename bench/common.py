"""Shared helpers for the benchmarks: timing, medians, a server in a thread."""

import logging
import statistics
import threading
import time

from werkzeug.serving import make_server


def serve(wsgi_app):
    """Serve a WSGI app on a free loopback port in a thread; return (url, stop)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_port}", server.shutdown


def timed(fn, repeat):
    """Run fn `repeat` times; return the list of durations in milliseconds."""
    durations = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        durations.append((time.perf_counter() - start) * 1000)
    return durations


def report(name, durations, baseline=None):
    median = statistics.median(durations)
    p90 = statistics.quantiles(durations, n=10)[-1] if len(durations) >= 10 else max(durations)
    ratio = f"  x{median / baseline:5.1f} baseline" if baseline else ""
    print(f"{name:<46} median {median:8.2f} ms   p90 {p90:8.2f} ms{ratio}")
    return median
