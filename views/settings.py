"""The organization's settings: admins only."""
from flask import render_template

from views.org_scope import admin_required, org_blueprint

bp = org_blueprint("settings", __name__, "/settings")


@bp.route("/")
@admin_required
def index():
    return render_template("settings/index.html")
