"""Member access to Digital Post: the access list, the add picker, and the
bulk grant and revoke, all one member table (models.members)."""

from flask import abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from htmx_flask import make_response

from formats import plural
from models import DigitalPostIntegration, Membership, db
from models.access import AccessState, access_state, grant_access, revoke_access
from models.members import MemberTable, departments
from models.sharing.lifecycle import count_scheduled_sends
from views.errors import render_error
from views.forms import small_int
from views.member_table import TableLinks, table_from
from views.org_scope import org_blueprint
from views.rendering import add_message, render_fragment, targets
from views.selection import Selection

bp = org_blueprint("access", __name__, "/settings/digital-post/access")
PAGE = "settings/index.html"
SELECTABLE = ("add", "remove")


@bp.before_request
def require_admin_and_active_integration():
    """Every view here is an admin's, and only while Digital Post is enabled."""
    if not g.membership.is_admin:
        abort(403)
    integration = DigitalPostIntegration.find(g.org.id)
    if integration is None or not integration.is_active:
        if request.method == "GET":
            return redirect(url_for("settings.index"))
        abort(409)
    g.integration = integration


def current_access() -> AccessState:
    """Who has access, read once per request; a grant or revoke forgets it."""
    if "access" not in g:
        g.access = access_state(g.org.id)
    return g.access


def access_changed(now: AccessState | None = None) -> None:
    """Forget who had access; `now` is who has it after the change, when known."""
    g.pop("access", None)
    if now is not None:
        g.access = now


def table_for(view: str) -> MemberTable:
    return table_from(g.org.id, view, request.values, current_access())


def selection_for(view: str) -> Selection | None:
    return Selection(g.org.id, g.membership.user_id, view, current_access().extent) if view in SELECTABLE else None


def table_context(view: str, table: MemberTable | None = None, **flags) -> dict:
    table = table or table_for(view)
    selection = selection_for(view)
    selection_cleared = selection.follow_filter(table.filter) if selection else False
    # Every match selected: the table counts them all, and its count is the
    # selection's (one count, not two).
    whole = selection is not None and selection.is_all_of(table.filter, table.max_id)
    if whole:
        table.count_all = True
    rows, total, exact = table.shown()
    if whole:
        picked, selected_count = {r.id for r in rows}, total
    elif selection:
        picked, selected_count = selection.picked_among([r.id for r in rows]), selection.count()
    else:
        picked, selected_count = set(), 0
    return {
        "view": view,
        "table": table,
        "links": TableLinks(table),
        "rows": rows,
        "total": total,
        "total_exact": exact,
        "pages": table.pages(total if exact else total + 1),  # "more than N" is N + 1 at least
        "selection": selection,
        "selected_count": selected_count,
        "picked": picked,
        "page_picked": bool(rows) and all(r.id in picked for r in rows),
        "all_matching": selection.all_matching_filter if selection else None,
        "selection_unavailable": selection.unavailable if selection else False,
        "selection_cleared": selection_cleared,
        "access_count": current_access().granted,
        **flags,
    }


def render_view(view: str, status: int = 200, push_url=None, trigger=None):
    """The whole panel for a page load or a click into it; only the table
    for the table's own requests (filters, sorting, paging)."""
    context = table_context(view)
    if targets("member-table"):
        # A tidy address for reload, back and sharing: the table as shown
        # (its page clamped when the rows left it).
        push_url = push_url or url_for(context["links"].endpoint, **context["links"].args())
        return make_response(
            render_template("access/_table.html", table_only=True, **context),
            status,
            push_url=push_url,
            trigger=trigger,
        )
    context["departments"] = departments(g.org.id)
    return render_fragment(
        "access/_panel.html",
        PAGE,
        status=status,
        push_url=push_url,
        trigger=trigger,
        integration=g.integration,
        **context,
    )


def selection_unavailable():
    return render_error(
        503, _("The selection cannot be read right now, so nothing was changed. Try again in a moment.")
    )


@bp.get("/")
def index():
    if current_access().granted == 0:
        # Nobody has access yet: the help page goes straight to choosing members.
        return redirect(url_for(".add", **request.args))
    return render_view("access")


@bp.get("/add")
def add():
    return render_view("add")


@bp.get("/remove")
def remove():
    return render_view("remove")


@bp.post("/<any(add, remove):view>/select")
def select(view):
    """Tick or untick members: one row, the page, or all that match the filter."""
    table, selection = table_for(view), selection_for(view)
    scope = request.form.get("scope", "row")
    checked = request.form.get("checked") == "true"
    if scope == "row":
        member_id = request.form.get("member_id", type=small_int)
        if (
            member_id is None
            or db.session.scalar(
                db.select(Membership.id).where(Membership.id == member_id, Membership.org_id == g.org.id)
            )
            is None
        ):
            abort(404)  # the same answer whether the id is another organization's or none at all
        selection.mark([member_id], checked)
    elif scope == "rows":
        # The page's boxes as the browser shows them: ticked ones in, the rest out.
        ticked = set(request.form.getlist("member_id", type=small_int))  # bad values are skipped
        if ticked:
            ticked = set(
                db.session.scalars(
                    db.select(Membership.id).where(Membership.id.in_(ticked), Membership.org_id == g.org.id)
                )
            )
        selection.mark(ticked, True)
        selection.mark(set(table.page_ids()) - ticked, False)
    elif scope == "page":
        selection.mark(table.page_ids(), checked)
    elif scope == "all":
        selection.select_all_matching(table.filter, table.max_id())
    elif scope == "none":
        selection.clear()
    else:
        abort(400)
    # A ticked row is already ticked in the browser: only the bar changes.
    template = "access/_selection_bar.html" if scope in ("row", "rows") else "access/_table.html"
    return render_template(template, table_only=True, **table_context(view, table, focus_all=scope == "all"))


@bp.post("/add")
def grant():
    # Not selection_for(): the grant reads who has access itself, under its lock.
    selection = Selection(g.org.id, g.membership.user_id, "add")
    empty = selection.is_empty  # no count first: the grant says how many it gave
    if selection.unavailable:
        return selection_unavailable()
    # Only members without access are granted: a second click racing the first grants nothing twice.
    granted = 0 if empty else grant_access(g.org.id, g.membership.user_id, selection.chosen.to_grant())
    if not granted:
        db.session.rollback()
        return add_message(render_view("add", status=422), _("Select at least one member."), "error")
    gone = selection.gone_count()
    db.session.commit()
    access_changed()
    selection.clear()
    response = render_view("add")
    text = plural("%(num)s member now has access.", "%(num)s members now have access.", granted)
    if gone:
        text += " " + plural(
            "%(num)s selected member was skipped: no longer in the organization.",
            "%(num)s selected members were skipped: no longer in the organization.",
            gone,
        )
    return add_message(response, text, "success")


@bp.get("/remove/confirm")
def confirm_remove():
    """The pop-up that says what Remove will do, before it does it."""
    selection = selection_for("remove")
    members = selection.count()
    if selection.unavailable:
        return selection_unavailable()
    sends = count_scheduled_sends(g.org.id, selection.member_ids()) if members else 0
    return render_template("access/_remove_dialog.html", members=members, sends=sends)


@bp.post("/remove")
def revoke():
    selection = Selection(g.org.id, g.membership.user_id, "remove")
    empty = selection.is_empty  # no count first: the revoke says how many it took
    if selection.unavailable:
        return selection_unavailable()
    if empty:
        return render_template("access/_remove_dialog.html", members=0, sends=0), 422
    revoked = revoke_access(g.org.id, g.membership.user_id, selection.member_ids(in_view=False))
    removed, cancelled = revoked.members, revoked.cancelled
    if not removed:
        db.session.rollback()
        return render_template("access/_remove_dialog.html", members=0, sends=0), 422
    db.session.commit()
    access_changed(revoked.access)
    selection.clear()
    view = "access" if current_access().granted else "add"
    # The pop-up's form targets #dp-panel: the whole panel, as the view may change.
    response = render_view(
        view, push_url=url_for(".index" if view == "access" else ".add"), trigger={"closeDialog": True}
    )
    text = plural("%(num)s member no longer has access.", "%(num)s members no longer have access.", removed)
    if cancelled:
        text += " " + plural(
            "%(num)s scheduled send was cancelled.",
            "%(num)s scheduled sends were cancelled.",
            cancelled,
        )
    return add_message(response, text)
