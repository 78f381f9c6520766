"""The organization picker and each organization's home."""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

bp = Blueprint("orgs", __name__)


@bp.route("/")
@login_required
def index():
    memberships = sorted(current_user.memberships, key=lambda m: m.organization.name.casefold())
    if len(memberships) == 1:
        return redirect(url_for("surveys.index", org_id=memberships[0].org_id))
    return render_template("orgs/picker.html", memberships=memberships)
