"""A member's surveys, and how to share them."""
from flask import abort, g, render_template

from models import DigitalPostIntegration, Survey, db
from models.access import has_access
from views.org_scope import org_blueprint

bp = org_blueprint("surveys", __name__, "/surveys")


def own_survey(survey_id: int) -> Survey:
    survey = db.session.get(Survey, survey_id)
    if survey is None or survey.org_id != g.org.id or survey.owner_id != g.membership.user_id:
        abort(404)
    return survey


def can_share_via_digital_post() -> bool:
    """Read on every page load, so a grant or revoke shows on the next one."""
    integration = DigitalPostIntegration.find(g.org.id)
    return integration is not None and integration.is_active and has_access(g.membership)


@bp.route("/")
def index():
    surveys = db.session.scalars(
        db.select(Survey)
        .where(Survey.org_id == g.org.id, Survey.owner_id == g.membership.user_id)
        .order_by(Survey.created_at.desc(), Survey.id.desc())
    ).all()
    return render_template("surveys/index.html", surveys=surveys)


@bp.route("/<int:survey_id>/share")
def share(survey_id):
    return render_template("surveys/share.html", survey=own_survey(survey_id),
                           digital_post=can_share_via_digital_post())
