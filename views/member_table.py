"""The member table's address: reading its state from the URL and writing
links to it. The table itself (models.members) knows nothing of either."""

from dataclasses import dataclass

from models.access import AccessState
from models.members import MAX_QUERY, SORTS, MemberFilter, MemberTable, printable
from models.org import DEPARTMENT_MAX, Role

MAX_PAGE = 1_000_000


def filter_from(args) -> MemberFilter:
    role = args.get("role", "")
    return MemberFilter(
        q=" ".join(printable(args.get("q") or "").split())[:MAX_QUERY],
        department=(args.get("department") or "")[:DEPARTMENT_MAX],
        role=role if role in (Role.ADMIN, Role.MEMBER) else "",
    )


def table_from(org_id: int, view: str, args, access: AccessState | None = None) -> MemberTable:
    """The table a request asks for; what it cannot use falls back to the default."""
    sort = args.get("sort", "name")
    try:
        page = max(1, min(int(args.get("page", 1)), MAX_PAGE))
    except ValueError:
        page = 1
    return MemberTable(
        org_id, view, filter_from(args), sort if sort in SORTS else "name", args.get("dir") == "desc", page, access
    )


@dataclass(frozen=True)
class TableLinks:
    """Where the table's links go: the view that shows it, and its state as
    URL arguments, defaults left out, so addresses stay tidy."""

    table: MemberTable

    @property
    def endpoint(self) -> str:
        return "access." + ("index" if self.table.view == "access" else self.table.view)

    def args(self, **changes) -> dict:
        table = self.table
        args = {
            **{k: v for k, v in vars(table.filter).items() if v},
            "sort": table.sort,
            "dir": "desc" if table.descending else "asc",
            "page": table.page,
        }
        args.update(changes)
        return {
            k: v
            for k, v in args.items()
            if v not in ("", None)
            and not (k == "page" and v == 1)
            and not (k == "sort" and v == "name")
            and not (k == "dir" and v == "asc")
        }
