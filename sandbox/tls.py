"""The sandbox's Serviceplatformen port: python -m sandbox.tls

Mutual TLS on SANDBOX_SF1601_PORT (5443), with the test authority kept in
instance/ (sandbox-ca.pem is the CA that Postbud's SF1601_CAFILE names).
"""

import os
import signal
import sys
import threading
from pathlib import Path

from sandbox.app import create_app
from sandbox.ca import TestAuthority
from sandbox.sf1601 import serve_tls


def main() -> None:
    app = create_app()
    folder = Path(app.config["SANDBOX_CA_DIR"])
    authority = TestAuthority.load_or_create(folder)
    port = int(os.environ.get("SANDBOX_SF1601_PORT", "5443"))
    url, stop = serve_tls(app, authority, port=port, folder=folder)
    print(f"Digital Post sandbox, Serviceplatformen (SF1601): {url} (CA {folder / 'sandbox-ca.pem'})", file=sys.stderr)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    stop()


if __name__ == "__main__":
    main()
