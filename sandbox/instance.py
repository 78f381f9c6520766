"""The sandbox's files: its SQLite database and its secrets, in the same
instance/ folder a developer's Postbud uses (POSTBUD_INSTANCE_DIR), found by
path and not by importing the app, so the sandbox stands apart from Postbud as
the real gateway does. The receipt push secret is shared that way: each side
creates it once, whichever starts first, and both read the same file."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]  # the repository: static/ and translations/


def instance_dir() -> Path:
    """Readable by this user only: it holds secrets."""
    path = Path(os.environ.get("POSTBUD_INSTANCE_DIR", BASE_DIR / "instance"))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def _create_private(path: Path) -> int | None:
    """A new file of mode 0600 (O_EXCL: of two processes, one creates it), or None."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None


def private_file(name: str) -> Path:
    path = instance_dir() / name
    if (fd := _create_private(path)) is not None:
        os.close(fd)
    return path


def secret(name: str, make) -> str:
    path = instance_dir() / name
    if (fd := _create_private(path)) is not None:
        with os.fdopen(fd, "w") as f:
            f.write(make())
    return path.read_text().strip()
