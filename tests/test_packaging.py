"""Issue 23, item 6: the package, installed, holds every top-level module the
app imports: `import app` works from anywhere, not only from the
repository's root (where the modules lie beside it anyway)."""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_installed_package_imports_the_app_from_elsewhere(tmp_path):
    # Built from a copy: a build/ left in the checkout would add its stale modules to the wheel.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "instance", "test-artifacts", "__pycache__", "node_modules"
        ),
    )
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        cwd=tmp_path,
    )
    # The installed copy first; the dependencies from this environment's
    # site-packages, without its .pth files (the editable install's finder
    # would find the repository's modules and hide a missing one).
    code = (
        "import sys; "
        f"sys.path[:0] = [{str(target)!r}, {sysconfig.get_paths()['purelib']!r}]; "
        "import app; assert app.__file__.startswith(sys.path[0]), app.__file__; "
        "import formats, cli, logs, crypto, config, extensions; print('ok')"
    )
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
