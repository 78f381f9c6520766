"""Where a ?next= may send the browser: this site only."""

from urllib.parse import urlsplit


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: no scheme, no host, no protocol-relative //."""
    if not target:
        return None
    if any(ord(c) < 0x20 or c == "\x7f" for c in target):
        return None  # CR/LF would split the Location header; tabs are dropped by browsers
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
