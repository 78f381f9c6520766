"""The member table shared by the access list and the add picker: filters,
sorting, pagination, and the selection the admin builds across pages.

Everything is SQL over indexes of `membership` (see models.org): the text
search uses the case-folded copies of name and e-mail, so æ/ø/å and case
match on SQLite and PostgreSQL alike.
"""

from dataclasses import asdict, dataclass, field

from sqlalchemy import exists, false, func, literal_column, or_, select, table
from sqlalchemy.orm import aliased

from extensions import db
from models.access import AccessExtent, DigitalPostAccess
from models.org import Membership, Role, User, fold

PER_PAGE = 50
COUNT_BOUND = 10_000
MAX_QUERY = 100
SORTS = {
    "name": Membership.name_folded,
    "email": Membership.email,
    "department": Membership.department,
    "role": Membership.role,
}


# The trigram search structures made by hand in a migration (see
# migrations/versions/eddd017219db_*): autogenerate must leave them alone.
SEARCH_INDEX_NAMES = ("membership_search", "ix_membership_name_trgm", "ix_membership_email_trgm")


def include_in_autogenerate(name, type_, parent_names) -> bool:
    return not (name or "").startswith(SEARCH_INDEX_NAMES)


def _text_match(folded: str):
    """Members whose folded name or e-mail contains `folded`.

    On SQLite, three characters or more go through the FTS5 trigram index;
    on PostgreSQL the pg_trgm GIN indexes serve the LIKE itself.
    """
    if len(folded) >= 3 and db.engine.dialect.name == "sqlite":
        phrase = '"' + folded.replace('"', '""') + '"'
        return Membership.id.in_(
            select(literal_column("rowid"))
            .select_from(table("membership_search"))
            .where(literal_column("membership_search").op("MATCH")(phrase))
        )
    pattern = _like_pattern(folded)
    return or_(Membership.name_folded.like(pattern, escape="\\"), Membership.email.like(pattern, escape="\\"))


def _printable(text: str) -> str:
    # Control characters (NUL above all) match no name and upset FTS5 and psycopg.
    return "".join(c if c.isprintable() else " " for c in text)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class MemberFilter:
    q: str = ""
    department: str = ""
    role: str = ""

    @classmethod
    def from_args(cls, args) -> "MemberFilter":
        role = args.get("role", "")
        return cls(
            q=" ".join(_printable(args.get("q") or "").split())[:MAX_QUERY],
            department=(args.get("department") or "")[:100],
            role=role if role in (Role.ADMIN, Role.MEMBER) else "",
        )

    def conditions(self) -> list:
        conditions = []
        if self.q:
            conditions.append(_text_match(fold(self.q)))
        if self.department:
            conditions.append(Membership.department == self.department)
        if self.role:
            conditions.append(Membership.role == self.role)
        return conditions

    def is_empty(self) -> bool:
        return not (self.q or self.department or self.role)

    def as_args(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v}


# An alias, so the EXISTS below never correlates with a join on the access
# table in the outer query (the rows query joins it for "Access since").
_access = aliased(DigitalPostAccess)


def view_conditions(org_id: int, view: str, extent: AccessExtent = AccessExtent.SOME) -> list:
    """Members of the organization that belong in this view: lacking access
    for "add", having it otherwise. When none or all have access, the answer
    needs no per-row check, and the queries stay on the membership indexes."""
    if extent is not AccessExtent.SOME:
        everyone = (view == "add") == (extent is AccessExtent.NONE)
        return [Membership.org_id == org_id] if everyone else [Membership.org_id == org_id, false()]
    with_access = exists().where(_access.membership_id == Membership.id)
    return [Membership.org_id == org_id, ~with_access if view == "add" else with_access]


@dataclass
class MemberTable:
    org_id: int
    view: str
    filter: MemberFilter = field(default_factory=MemberFilter)
    sort: str = "name"
    descending: bool = False
    page: int = 1
    extent: AccessExtent = AccessExtent.SOME

    @classmethod
    def from_args(cls, org_id: int, view: str, args, extent: AccessExtent = AccessExtent.SOME) -> "MemberTable":
        sort = args.get("sort", "name")
        try:
            page = max(1, min(int(args.get("page", 1)), 1_000_000))
        except ValueError:
            page = 1
        return cls(
            org_id,
            view,
            MemberFilter.from_args(args),
            sort if sort in SORTS else "name",
            args.get("dir") == "desc",
            page,
            extent,
        )

    @property
    def endpoint(self) -> str:
        """The view function that shows this table."""
        return "access." + ("index" if self.view == "access" else self.view)

    @property
    def first_row(self) -> int:
        return (self.page - 1) * PER_PAGE + 1

    def has_next(self, rows_shown: int, pages: int, exact: bool) -> bool:
        return self.page < pages or (not exact and rows_shown == PER_PAGE)

    def _conditions(self) -> list:
        return view_conditions(self.org_id, self.view, self.extent) + self.filter.conditions()

    def count(self, bound: int | None = COUNT_BOUND) -> tuple[int, bool]:
        """(number of members in the table, whether that is exact).

        Counting stops past `bound`: a count is most of the cost of a page,
        and "10,000+" tells the admin as much as 97,312 does. Selecting all
        matching members counts them exactly (see Selection).
        """
        matching = select(Membership.id).where(*self._conditions())
        if bound is not None:
            matching = matching.limit(bound + 1)
        n = db.session.scalar(select(func.count()).select_from(matching.subquery()))
        return (bound, False) if bound is not None and n > bound else (n, True)

    def pages(self, total: int) -> int:
        return max(1, -(-total // PER_PAGE))

    def _order(self) -> list:
        column = SORTS[self.sort]
        return [column.desc(), Membership.id.desc()] if self.descending else [column, Membership.id]

    def page_ids(self) -> list[int]:
        """The ids on this page, found on the membership indexes alone."""
        query = (
            select(Membership.id)
            .where(*self._conditions())
            .order_by(*self._order())
            .limit(PER_PAGE)
            .offset((self.page - 1) * PER_PAGE)
        )
        return list(db.session.scalars(query))

    def shown(self) -> tuple[list, int, bool]:
        """(the page's rows, the number of members in the table, whether that
        is exact). A search finds its page and its count in one pass, the
        count as a window over what the sort visits anyway, so the trigram
        search runs once; without one, the page comes off the index by LIMIT
        and the count stops at COUNT_BOUND."""
        shown = self._shown()
        if not shown[0] and self.page > 1:
            # Past the end (the rows just granted left the page, or a stale
            # link): the last page there is, and the URL follows (args()).
            self.page = self.pages(shown[1])
            shown = self._shown()
        return shown

    def _shown(self) -> tuple[list, int, bool]:
        if not self.filter.q:
            return self.rows(), *self.count()
        total = func.count().over().label("total")
        found = db.session.execute(
            select(Membership.id, total)
            .where(*self._conditions())
            .order_by(*self._order())
            .limit(PER_PAGE)
            .offset((self.page - 1) * PER_PAGE)
        ).all()
        if not found:  # past the last page: only the count can say how many
            return [], *self.count()
        n = found[0].total
        return self.rows([r.id for r in found]), min(n, COUNT_BOUND), n <= COUNT_BOUND

    def rows(self, ids: list[int] | None = None) -> list:
        """The page's rows. The page is chosen first on ids (an OFFSET walks the
        index only), then only those 50 are joined to users and access."""
        ids = self.page_ids() if ids is None else ids
        if not ids:
            return []
        query = (
            select(
                Membership.id,
                User.name,
                Membership.email,
                Membership.department,
                Membership.role,
                DigitalPostAccess.granted_at,
            )
            .join(User, User.id == Membership.user_id)
            .outerjoin(DigitalPostAccess, DigitalPostAccess.membership_id == Membership.id)
            .where(Membership.id.in_(ids))
            .order_by(*self._order())
        )
        return db.session.execute(query).all()

    def max_id(self) -> int:
        return db.session.scalar(select(func.max(Membership.id)).where(Membership.org_id == self.org_id)) or 0

    def args(self, **changes) -> dict:
        """The URL arguments of this table state, with changes (for links)."""
        args = {
            **self.filter.as_args(),
            "sort": self.sort,
            "dir": "desc" if self.descending else "asc",
            "page": self.page,
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


def departments(org_id: int) -> list[str]:
    """The organization's departments, read off the (org, department) index by
    a recursive query that skips from one value to the next, instead of
    scanning every member as DISTINCT would."""
    m = Membership.__table__
    first = select(func.min(m.c.department).label("name")).where(m.c.org_id == org_id)
    cte = first.cte("departments", recursive=True)
    following = select(
        select(func.min(m.c.department)).where(m.c.org_id == org_id, m.c.department > cte.c.name).scalar_subquery()
    ).where(cte.c.name.is_not(None))
    cte = cte.union_all(following)
    return [name for name in db.session.scalars(select(cte.c.name).where(cte.c.name.is_not(None))) if name]
