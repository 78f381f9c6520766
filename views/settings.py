"""The organization's settings page, admins only: Digital Post (the
integration's own views), and the protection of citizens
(models/policy.py): the reason every letter gives, the contact cap, and the
daily volumes, saved from a card through HTMX or a plain POST."""

from flask import abort, g, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from redis.exceptions import RedisError
from wtforms import IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, ValidationError

from jobs.sending import enqueue_rounds
from models import DigitalPostIntegration, Share, db
from models.policy import CAP_DAYS_MAX, DRAFT_DAYS_MAX, FIELDS, PURPOSE_MAX, policy_of, set_policy
from models.sharing.rows import holds_cpr
from models.volume import approve_share, held_shares, reject_share, volume_of
from views.forms import Form, letter_text
from views.org_scope import admin_required, org_blueprint
from views.rendering import is_fragment

bp = org_blueprint("settings", __name__, "/settings")
PAGE = "settings/index.html"
PARTIAL = "settings/_policy.html"
APPROVALS = "settings/_approvals.html"
VOLUME_MAX = 10_000_000
TOO_LONG = _l("The sentence can be at most %(max)d characters.", max=PURPOSE_MAX)


@bp.route("/")
@admin_required
def index():
    return render_card(policy_form())


def no_cpr(form, field):
    if holds_cpr(field.data or ""):
        raise ValidationError(_("Leave CPR numbers out: this sentence goes into every letter."))


class WholeNumber(IntegerField):
    """An IntegerField whose "not a number" is ours, in the user's language."""

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "").strip()
        if text and not (text.isascii() and text.isdigit() and len(text) <= 9):
            self.data = None
            raise ValueError(_("Enter a whole number."))
        super().process_formdata([text] if text else [])


def whole(label, low, high):
    return WholeNumber(
        label,
        validators=[
            InputRequired(_l("Enter a whole number.")),
            NumberRange(low, high, message=_l("Enter a whole number from %(min)d to %(max)d.")),
        ],
        render_kw={"inputmode": "numeric", "min": low, "max": high},
    )


class PolicyForm(Form):
    purpose_da = TextAreaField(
        _l("Why the organization sends survey letters (Danish)"),
        validators=[Length(max=PURPOSE_MAX, message=TOO_LONG), letter_text, no_cpr],
        render_kw={"rows": 2, "maxlength": PURPOSE_MAX},
    )
    purpose_en = TextAreaField(
        _l("The same in English (optional)"),
        validators=[Length(max=PURPOSE_MAX, message=TOO_LONG), letter_text, no_cpr],
        render_kw={"rows": 2, "maxlength": PURPOSE_MAX},
    )
    cap_invitations = whole(_l("Invitations one citizen may get"), 1, 50)
    cap_letters = whole(_l("Letters one citizen may get, reminders included"), 1, 200)
    cap_days = whole(_l("Within this many days"), 1, CAP_DAYS_MAX)
    daily_per_member = whole(_l("Recipients a day per member"), 1, VOLUME_MAX)
    daily_per_org = whole(_l("Recipients a day for the whole organization"), 1, VOLUME_MAX)
    draft_days = whole(_l("Days an unfinished draft is kept"), 1, DRAFT_DAYS_MAX)

    def validate_cap_letters(self, field):
        if field.data is not None and self.cap_invitations.data and field.data < self.cap_invitations.data:
            raise ValidationError(_("Letters include invitations: at least as many as the invitations."))

    def validate_daily_per_org(self, field):
        if field.data is not None and self.daily_per_member.data and field.data < self.daily_per_member.data:
            raise ValidationError(_("The organization's day holds at least one member's day."))


def policy_form() -> PolicyForm:
    policy = policy_of(g.org.id)
    return PolicyForm(formdata=None, obj=policy)


@bp.post("/citizens")
@admin_required
def save():
    form = PolicyForm()
    if not form.validate():
        return render_card(form, status=422)
    values = {name: getattr(form, name).data for name in FIELDS}
    for name in ("purpose_da", "purpose_en"):
        values[name] = " ".join((values[name] or "").split())
    change = set_policy(g.org.id, g.membership.user_id, **values)
    db.session.commit()
    return render_card(policy_form(), saved=bool(change.changed), unchanged=not change.changed)


def approvals() -> list[dict]:
    """Shares held over a daily volume, with what they would bring the day to."""
    out = []
    for share in held_shares(g.org.id):
        invitation = share.invitation
        volume = volume_of(share, invitation.send_at)
        out.append({"share": share, "invitation": invitation, "volume": volume})
    return out


def held_share(share_id: int) -> Share:
    share = db.session.get(Share, share_id)
    if share is None or share.org_id != g.org.id:
        abort(404)
    return share


@bp.post("/approvals/<int:share_id>/approve")
@admin_required
def approve(share_id):
    rounds = approve_share(held_share(share_id), g.membership.user_id)
    db.session.commit()
    note = _("Approved: the share is scheduled.") if rounds else _("Nothing waits for approval there any more.")
    if rounds:
        try:
            enqueue_rounds(rounds)
        except RedisError:
            pass  # in the database as scheduled: the worker's housekeeping queues them
    return render_approvals(note)


@bp.post("/approvals/<int:share_id>/reject")
@admin_required
def reject(share_id):
    cancelled = reject_share(held_share(share_id), g.membership.user_id)
    db.session.commit()
    return render_approvals(
        _("Not approved: the share is cancelled.") if cancelled else _("Nothing waits for approval there any more.")
    )


def render_approvals(note: str):
    if is_fragment():
        return render_template(APPROVALS, held=approvals(), approval_note=note)
    return render_card(policy_form(), approval_note=note)


def render_card(form, status=200, **flags):
    context = dict(policy_form=form, held=approvals(), **flags)
    if is_fragment():
        return render_template(PARTIAL, **context), status
    return (
        render_template(
            PAGE, integration=DigitalPostIntegration.find(g.org.id), panel=None, access_summary=True, **context
        ),
        status,
    )
