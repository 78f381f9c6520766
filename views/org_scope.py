"""Organization-scoped blueprints: every URL is /orgs/<org_id>/...

The blueprint loads the current user's membership of that organization before
any of its views run. A user who is not a member gets 404, so the existence
of other organizations never leaks; views that need an admin say so with
@admin_required and a plain member gets 403.
"""

from functools import wraps

from flask import Blueprint, abort, g
from flask_login import current_user

from extensions import db, login_manager
from models.survey import Survey


def org_blueprint(name: str, import_name: str, url_prefix: str = "") -> Blueprint:
    bp = Blueprint(name, import_name, url_prefix="/orgs/<int:org_id>" + url_prefix)

    @bp.url_value_preprocessor
    def pull_org_id(endpoint, values):
        g.org_id = values.pop("org_id")

    @bp.url_defaults
    def add_org_id(endpoint, values):
        if "org_id" not in values and "org_id" in g:
            values["org_id"] = g.org_id

    @bp.before_request
    def load_membership():
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        membership = current_user.membership_in(g.org_id)
        if membership is None:
            abort(404)
        g.membership = membership
        g.org = membership.organization

    return bp


def admin_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not g.membership.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def own_survey(survey_id: int):
    """The member's own survey; another's, or another organization's, is 404."""
    survey = db.session.get(Survey, survey_id)
    if survey is None or survey.org_id != g.org.id or survey.owner_id != g.membership.user_id:
        abort(404)
    return survey
