"""The organization's settings page: admins only."""

from flask import g, render_template

from models import DigitalPostIntegration
from views.org_scope import admin_required, org_blueprint

bp = org_blueprint("settings", __name__, "/settings")


@bp.route("/")
@admin_required
def index():
    return render_template("settings/index.html", integration=DigitalPostIntegration.find(g.org.id), panel=None)
