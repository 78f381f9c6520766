"""Sharing a survey through Digital Post: the member's flow and the status.

Steps of a draft share: recipients (typed in, pasted or uploaded), message
(with a preview for a real recipient), schedule, and a summary whose
"Send invitations" confirms it. Then the share's status page.

The package: this module has the blueprint and the lookups every step
uses; forms.py the forms; draft.py the draft's steps, the reach, the test
letter and the confirm; status.py the status pages.
"""

from flask import abort, g, redirect, url_for

from models import Share, db
from models.access import may_share_via_digital_post
from views.org_scope import org_blueprint, own_survey

bp = org_blueprint("shares", __name__, "/surveys/<int:survey_id>/digital-post")
COMPOSE = "shares/compose.html"
STATUS = "shares/status.html"
METHODS = ("manual", "paste", "upload")


@bp.url_value_preprocessor
def pull_survey(endpoint, values):
    g.survey_id = values.pop("survey_id")


@bp.url_defaults
def add_survey(endpoint, values):
    if "survey_id" not in values and "survey_id" in g:
        values["survey_id"] = g.survey_id


@bp.before_request
def load_survey():
    g.survey = own_survey(g.survey_id)


def draft_share(share_id: int) -> Share:
    share = own_share(share_id)
    if not share.is_draft:
        abort(redirect(url_for(".status", share_id=share.id)))
    if not may_share_via_digital_post(g.membership):
        abort(403)
    return share


def own_share(share_id: int) -> Share:
    share = db.session.get(Share, share_id)
    if share is None or share.survey_id != g.survey.id or share.membership_id != g.membership.id:
        abort(404)
    return share


from views.shares import draft, status  # noqa: E402, F401  (their routes join the blueprint)
