"""A member's surveys."""
from flask import g, render_template

from models import Survey, db
from views.org_scope import org_blueprint

bp = org_blueprint("surveys", __name__, "/surveys")


@bp.route("/")
def index():
    surveys = db.session.scalars(
        db.select(Survey)
        .where(Survey.org_id == g.org.id, Survey.owner_id == g.membership.user_id)
        .order_by(Survey.created_at.desc(), Survey.id.desc())
    ).all()
    return render_template("surveys/index.html", surveys=surveys)
