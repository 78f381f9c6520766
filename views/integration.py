"""Connecting the organization to Digital Post: the two-step wizard.

Step 1 takes the API key, the sender CVR and the admin's own CPR (never
stored), saves the new settings as a pending attempt and enqueues the
verification mail. Its alternative (?via=sf1601) takes an OCES3 system
certificate (.p12, passphrase, environment) instead of the key, for
Serviceplatformen. Step 2 follows the mail job live and takes the code from
the mail; "Confirm and enable" puts the settings in force.
"""

import secrets
from datetime import timedelta

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from redis.exceptions import RedisError
from sqlalchemy.orm.exc import StaleDataError
from wtforms import BooleanField, FileField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import ValidationError
from wtforms.widgets import PasswordInput

from crypto import keyed_hash
from digitalpost import InvalidCVR, normalize_cvr
from digitalpost.certificates import CertificateError, CertificateProblem, load_bundle, load_pkcs12
from digitalpost.sf1601 import Environment
from digitalpost.transport import TransportKind
from jobs import sealed
from jobs.gateway import environments
from jobs.verification import enqueue_verification_mail
from models import DigitalPostIntegration, db
from models.access import access_count
from models.integration import (
    CODE_VALID_MINUTES,
    MAX_CODE_ATTEMPTS,
    CodeOutcome,
    Credentials,
    MailFailure,
    Sending,
    confirm_code,
    deactivate_integration,
    mark_stalled,
    record_sending,
    set_paper_policy,
    start_verification,
)
from models.sharing.lifecycle import count_scheduled_sends
from views.forms import CprField, Form
from views.org_scope import admin_required, org_blueprint
from views.ratelimit import AttemptLimit, minutes
from views.rendering import add_message, go_to, is_fragment, render_fragment

bp = org_blueprint("integration", __name__, "/settings/digital-post")
PAGE = "settings/index.html"
API_KEY_MIN, API_KEY_MAX = 8, 256
VIA_SF1601 = TransportKind.SF1601.value
CERTIFICATE_MAX_BYTES = 64 * 1024  # a .p12 with its chain is a few kilobytes
PASSPHRASE_MAX = 200
STASH = "certificate-upload"  # a checked certificate kept while other fields are corrected
STASH_FOR = 1800


class SettingsForm(Form):
    """The fields both ways of connecting have: the sender CVR and the
    admin's own CPR, for the verification letter."""

    sender_cvr = StringField(
        _l("Sender CVR"), render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 8}
    )
    cpr = CprField(_l("Your CPR number"))
    via = TransportKind.PROVIDER.value
    known_key_last4 = None
    known_certificate = None

    @property
    def wizard_fields(self) -> list:
        return [self.sender_cvr, self.cpr]

    def validate_sender_cvr(self, field):
        try:
            field.data = normalize_cvr(field.data or "")
        except InvalidCVR as exc:
            if exc.reason == "checksum":
                raise ValidationError(_("This is not a valid CVR number. Check the digits.")) from None
            raise ValidationError(_("A CVR number has 8 digits.")) from None


class ConnectForm(SettingsForm):
    # The typed key stays in the field when another field has an error; a
    # page that is loaded (Back, reload) never shows a saved key.
    api_key = PasswordField(
        _l("API key"), widget=PasswordInput(hide_value=False), render_kw={"autocomplete": "off", "spellcheck": "false"}
    )

    def __init__(self, *args, known_key_last4=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.known_key_last4 = known_key_last4

    @property
    def wizard_fields(self) -> list:
        return [self.api_key, self.sender_cvr, self.cpr]

    @property
    def credentials(self) -> Credentials:
        return Credentials(api_key=self.api_key.data or None)

    def validate_api_key(self, field):
        key = field.data or ""
        if not key:
            if self.known_key_last4:
                return  # keep the key already saved
            raise ValidationError(_("Enter the API key from the organization's Digital Post account."))
        if any(c.isspace() for c in key):
            raise ValidationError(_("The API key cannot contain spaces. Copy it again without spaces or line breaks."))
        if not all("!" <= c <= "~" for c in key):
            # Keys are ASCII; anything else cannot go in an HTTP header and would
            # only fail later, in the mail job.
            raise ValidationError(
                _(
                    "The API key can only contain the letters a–z and A–Z, digits and punctuation. Copy it again from the organization's Digital Post account."
                )
            )
        if not API_KEY_MIN <= len(key) <= API_KEY_MAX:
            raise ValidationError(
                _("An API key is between %(min)d and %(max)d characters.", min=API_KEY_MIN, max=API_KEY_MAX)
            )


class CertificateForm(SettingsForm):
    """Serviceplatformen: the organization's OCES3 system certificate."""

    via = VIA_SF1601
    certificate = FileField(_l("System certificate (.p12)"), render_kw={"accept": ".p12,.pfx,application/x-pkcs12"})
    passphrase = PasswordField(_l("Passphrase"), render_kw={"autocomplete": "off", "maxlength": PASSPHRASE_MAX})
    environment = SelectField(_l("Environment"), choices=[])
    certificate_ref = HiddenField()

    def __init__(self, *args, upload=None, known=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.upload = upload  # the uploaded file (werkzeug FileStorage), or None
        self.known_certificate = known  # (certificate, environment) a new attempt may keep
        self.environment.choices = [(e.value, environment_label(e)) for e in environments()]
        if self.environment.data is None:
            self.environment.data = known[1] if known else Environment.TEST.value
        self.loaded = None

    @property
    def wizard_fields(self) -> list:
        return [self.certificate, self.passphrase, self.environment, self.sender_cvr, self.cpr]

    @property
    def credentials(self) -> Credentials:
        return Credentials(certificate=self.loaded, environment=self.environment.data)

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        self.loaded = self._certificate()
        if self.loaded is None:
            return False
        if self.upload is not None and self.upload.filename:
            # Kept, so that a CPR typed wrong does not mean choosing the file again.
            self.certificate_ref.data = stash_certificate(self.loaded)
        self.known_certificate = (self.loaded, self.environment.data)
        cvr = self.sender_cvr.data
        if self.loaded.cvr and not self.sender_cvr.errors and cvr and cvr != self.loaded.cvr:
            self.sender_cvr.errors.append(
                _(
                    "The certificate belongs to CVR %(cvr)s. Use that CVR, or the certificate of this organization.",
                    cvr=self.loaded.cvr,
                )
            )
            return False
        return valid

    def _certificate(self):
        upload = self.upload
        if upload is None or not upload.filename:
            stashed = unstash_certificate(self.certificate_ref.data)
            if stashed is not None:
                return stashed
            if self.known_certificate is not None:
                return self.known_certificate[0]
            self.certificate.errors = [_("Choose the organization's system certificate, a .p12 file.")]
            return None
        data = upload.stream.read(CERTIFICATE_MAX_BYTES + 1)
        if len(data) > CERTIFICATE_MAX_BYTES:
            self.certificate.errors = [_("This file is too large to be a certificate. Choose the .p12 file.")]
            return None
        passphrase = self.passphrase.data or ""
        if len(passphrase) > PASSPHRASE_MAX:
            self.passphrase.errors = [_("The passphrase is at most %(n)d characters.", n=PASSPHRASE_MAX)]
            return None
        try:
            return load_pkcs12(data, passphrase)
        except CertificateError as exc:
            field = self.passphrase if exc.problem == CertificateProblem.WRONG_PASSPHRASE else self.certificate
            field.errors = [certificate_problem(exc.problem)]
            return None

    def validate_environment(self, field):
        if field.data not in {e.value for e in environments()}:
            raise ValidationError(_("Choose an environment."))


def certificate_problem(problem: CertificateProblem) -> str:
    return {
        CertificateProblem.NOT_PKCS12: _("This file is not a PKCS#12 certificate (.p12). Choose the file again."),
        CertificateProblem.WRONG_PASSPHRASE: _(
            "The passphrase does not open this certificate. Type it again; capital letters count."
        ),
        CertificateProblem.NO_KEY: _("The file holds no private key. Export the certificate with its key (.p12)."),
        CertificateProblem.EXPIRED: _("This certificate has expired. Order a new one in MitID Erhverv."),
        CertificateProblem.EXPIRES_SOON: _(
            "This certificate expires within 30 days. Renew it in MitID Erhverv and use the new one."
        ),
        CertificateProblem.NOT_YET_VALID: _("This certificate is not valid yet. Check the date, or use another one."),
    }[problem]


def environment_label(environment: Environment) -> str:
    return {
        Environment.TEST: _("KOMBIT's test environment"),
        Environment.PRODUCTION: _("Production"),
        Environment.SANDBOX: _("Postbud's sandbox"),
    }[environment]


def stash_certificate(certificate) -> str:
    ref = sealed_ref()
    try:
        sealed.seal(STASH, f"{g.org.id}:{ref}", {"bundle": certificate.bundle()}, STASH_FOR)
    except RedisError:
        return ""
    return ref


def unstash_certificate(ref: str | None):
    if not ref or len(ref) > 64:
        return None
    try:
        secret = sealed.unseal(STASH, f"{g.org.id}:{ref}")
    except (RedisError, ValueError):
        return None
    return load_bundle(secret["bundle"]) if secret else None


def sealed_ref() -> str:
    return secrets.token_urlsafe(18)


class ConfirmForm(Form):
    attempt_id = HiddenField()
    code = StringField(
        _l("Code from the mail"), render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": 6}
    )


def concurrent_change() -> str:
    return _("Another admin changed the Digital Post settings at the same moment. Check them and try again.")


def integration() -> DigitalPostIntegration | None:
    return DigitalPostIntegration.find(g.org.id)


def wants_certificate() -> bool:
    return (request.values.get("via") or "") == VIA_SF1601


def connect_form(current, via: str | None = None, **kwargs) -> SettingsForm:
    """The step 1 form of one way of connecting: the API key (the default)
    or the certificate."""
    if (via or (VIA_SF1601 if wants_certificate() else "")) == VIA_SF1601:
        upload = request.files.get("certificate") if request.method == "POST" else None
        return CertificateForm(upload=upload, known=current.reusable_certificate() if current else None, **kwargs)
    return ConnectForm(known_key_last4=current.known_key_last4 if current else None, **kwargs)


def step1(form, current, status=200, general_error=None, **htmx):
    return render_fragment(
        "settings/_wizard_step1.html",
        PAGE,
        status=status,
        **htmx,
        form=form,
        integration=current,
        general_error=general_error,
    )


def step2(current, form=None, status=200, code_error=None, **htmx):
    form = form or ConfirmForm(attempt_id=current.attempt_id, formdata=None)
    return render_fragment(
        "settings/_wizard_step2.html",
        PAGE,
        status=status,
        **htmx,
        form=form,
        integration=current,
        code_error=code_error,
        code_valid_minutes=CODE_VALID_MINUTES,
    )


class PaperForm(Form):
    allowed = BooleanField(_l("Members may send paper letters to citizens who are exempt"))
    print_type = StringField(
        _l("Print job type"), render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 9}
    )

    def validate_print_type(self, field):
        text = (field.data or "").strip()
        if not text:
            if self.allowed.data:
                raise ValidationError(_("Enter the print job type from the print contract to allow paper letters."))
            field.data = None
            return
        if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 10**9:
            raise ValidationError(_("The print job type is a whole number, like 1234."))
        field.data = int(text)


def paper_form(current) -> PaperForm:
    form = PaperForm(formdata=None)
    form.allowed.data = current.paper_allowed
    form.print_type.data = str(current.print_type) if current.print_type else ""
    return form


def integration_context(current) -> dict:
    return dict(
        integration=current,
        access_count=access_count(g.org.id),
        paper_form=paper_form(current),
        environment_label=environment_label(Environment(current.environment)) if current.environment else "",
    )


@bp.get("/")
@admin_required
def index():
    current = integration()
    if current is None or not current.is_active:
        return redirect(url_for(".setup"))
    return render_fragment("settings/_integration.html", PAGE, **integration_context(current))


@bp.post("/paper")
@admin_required
def paper():
    current = integration()
    if current is None or not current.is_active or not current.uses_certificate:
        abort(409)
    form = PaperForm()
    if not form.validate():
        return render_template("settings/_paper.html", paper_form=form), 422
    set_paper_policy(g.org.id, g.membership.user_id, bool(form.allowed.data), form.print_type.data)
    db.session.commit()
    return render_template("settings/_paper.html", paper_form=form, paper_saved=True)


@bp.get("/setup")
@admin_required
def setup():
    current = integration()
    form = connect_form(current, formdata=None)
    if current is not None:
        form.sender_cvr.data = current.pending_sender_cvr or current.sender_cvr
    return step1(form, current)


@bp.post("/setup/validate")
@admin_required
def validate_field():
    """Check one field as the admin leaves it; answer with that field alone."""
    current = integration()
    form = connect_form(current)
    name = request.args.get("field", "")
    field = form._fields.get(name) if name in ("api_key", "sender_cvr", "cpr") else None
    if field is None:
        return "", 400
    Form.validate(form)  # the fields' own checks; only this field is shown
    return render_fragment(
        "settings/_wizard_field.html", PAGE, field=field, form=form, integration=current, feedback_only=True
    )


@bp.post("/setup")
@admin_required
def start():
    current = DigitalPostIntegration.for_org(g.org.id)
    form = connect_form(current)
    if not form.validate():
        return step1(form, current, status=422)
    cpr = form.cpr.data
    form.cpr.data = ""  # from here on, the CPR is not rendered back
    if refused := over_start_limits(form, current, cpr):
        return refused
    try:
        current, code = start_verification(g.org.id, g.membership.user_id, form.credentials, form.sender_cvr.data)
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        return step1(form, integration(), status=409, general_error=concurrent_change())
    try:
        enqueue_verification_mail(current, cpr, code)
    except RedisError:
        record_sending(current.id, current.attempt_id, Sending.FAILED, MailFailure.QUEUE_UNAVAILABLE)
        db.session.commit()
        # Handled, and recorded as a failed send: the form comes back with the advice.
        return step1(form, current, general_error=error_advice(MailFailure.QUEUE_UNAVAILABLE)[1])
    if not is_fragment():
        return redirect(url_for(".verify"))
    return step2(current, push_url=url_for(".verify"))


def over_start_limits(form, current, cpr):
    """Each start puts a mail in a citizen's mailbox under the organization's
    name: limited per organization and per CPR (by its keyed hash). The form
    with the message, or None when the start may go ahead."""
    per_org, per_cpr = start_limits()
    if wait := per_org.take(str(g.org.id)):
        text = _(
            "Your organization has sent %(n)d verification mails within the hour. Try again in %(minutes)d minutes.",
            n=per_org.limit,
            minutes=minutes(wait),
        )
        return step1(form, current, status=429, general_error=text)
    if wait := per_cpr.take(keyed_hash(cpr, "ratelimit:verification-cpr")):
        text = _(
            "This CPR number has received %(n)d verification mails within the hour. Try again in %(minutes)d minutes.",
            n=per_cpr.limit,
            minutes=minutes(wait),
        )
        form.cpr.errors = [text]
        return step1(form, current, status=429)
    return None


@bp.get("/setup/verify")
@admin_required
def verify():
    current = checked_attempt()
    if current is None or not current.has_attempt:
        # Nothing waits for a code (say, Back after enabling): show where things stand.
        return redirect(url_for(".index" if current is not None and current.is_active else ".setup"))
    if current.mail_failure and not current.mail_maybe_sent:
        return failed_step1(current)
    return step2(current)


@bp.get("/setup/status")
@admin_required
def sending_status():
    """Polled by step 2 while the mail is on its way; stops once it is sent or failed."""
    current = checked_attempt()
    if current is None or not current.has_attempt:
        return "", 286  # htmx: stop polling
    if current.mail_failure and not current.mail_maybe_sent:
        return failed_step1(current, retarget="#dp-panel", reswap="innerHTML", push_url=url_for(".setup"))
    return render_fragment("settings/_wizard_sending.html", PAGE, integration=current)


def checked_attempt() -> DigitalPostIntegration | None:
    """The integration, with a mail that no worker sent in time given its
    outcome, so the wizard stops waiting and says what happened."""
    current = integration()
    if current is not None and mark_stalled(
        current, timedelta(seconds=current_app.config["VERIFICATION_SEND_DEADLINE"])
    ):
        db.session.commit()
    return current


def start_limits() -> tuple[AttemptLimit, AttemptLimit]:
    per_hour = current_app.config["VERIFICATION_STARTS_PER_HOUR"]
    return AttemptLimit("verification-org", per_hour, 3600), AttemptLimit("verification-cpr", per_hour, 3600)


def code_guess_limit() -> AttemptLimit:
    # Per organization, across attempts: a new mail does not bring new guesses.
    return AttemptLimit("verification-code", current_app.config["VERIFICATION_CODE_GUESSES_PER_HOUR"], 3600)


@bp.post("/setup/confirm")
@admin_required
def confirm():
    form = ConfirmForm()
    code = (form.code.data or "").strip()
    if len(code) == 6 and (wait := code_guess_limit().take(str(g.org.id))):
        return step2(
            DigitalPostIntegration.for_org(g.org.id),
            form,
            status=429,
            code_error=_(
                "Too many wrong codes for your organization. Try again in %(minutes)d minutes.", minutes=minutes(wait)
            ),
        )
    try:
        outcome, current = confirm_code(g.org.id, g.membership.user_id, form.attempt_id.data, code)
        db.session.commit()  # a wrong code counts
    except StaleDataError:
        db.session.rollback()
        return step1(
            connect_form(integration(), formdata=None), integration(), status=409, general_error=concurrent_change()
        )
    if outcome == CodeOutcome.REPLACED:
        return step1(
            connect_form(current, formdata=None),
            current,
            status=409,
            general_error=_("This verification was replaced by a newer one. Start again to send a new mail."),
        )
    if outcome in CODE_ERRORS:
        return step2(current, form, status=422, code_error=code_error(outcome, current))
    code_guess_limit().reset(str(g.org.id))
    return enabled(current, outcome)


def enabled(current, outcome: CodeOutcome):
    """The settings are in force: the integration panel, and the message."""
    if is_fragment():
        response = render_fragment(
            "settings/_integration.html", PAGE, push_url=url_for(".index"), **integration_context(current)
        )
    else:
        response = redirect(url_for(".index"))
    if outcome == CodeOutcome.ACTIVATED:
        return add_message(response, _("Digital Post is enabled."))
    return add_message(response, _("The new Digital Post settings are in force."))


CODE_ERRORS = (CodeOutcome.UNUSABLE, CodeOutcome.MALFORMED, CodeOutcome.WRONG, CodeOutcome.NO_TRIES_LEFT)


def code_error(outcome: CodeOutcome, current: DigitalPostIntegration) -> str:
    if outcome == CodeOutcome.UNUSABLE:
        return _(
            "The code can no longer be used. Go back and send a new mail; you will need to type your CPR number again."
        )
    if outcome == CodeOutcome.MALFORMED:
        return _("The code has 6 digits.")
    if outcome == CodeOutcome.WRONG:
        return _("Wrong code. You can try %(n)d more times.", n=MAX_CODE_ATTEMPTS - current.code_attempts)
    return _(
        "Wrong code, and no tries are left. Go back and send a new mail; you will need to type your CPR number again."
    )


def error_advice(code: str | None) -> tuple[str | None, str]:
    """Turn a gateway outcome into (field, advice for the admin)."""
    advice = {
        MailFailure.INVALID_API_KEY: (
            "api_key",
            _(
                "Digital Post did not accept this API key. Copy the key again from the organization's Digital Post account."
            ),
        ),
        MailFailure.SENDER_NOT_AUTHORIZED: (
            "sender_cvr",
            _("This CVR number may not send with this API key. Use the CVR that the key was issued for."),
        ),
        MailFailure.CERTIFICATE_REFUSED: (
            "certificate",
            _(
                "Serviceplatformen did not accept this certificate. Check that it is the organization's system certificate and that it is registered for the environment."
            ),
        ),
        MailFailure.RECIPIENT_EXEMPT: (
            "cpr",
            _(
                "This CPR number is exempt from Digital Post, so the mail cannot reach it. Use the CPR number of an admin who receives Digital Post."
            ),
        ),
        MailFailure.RECIPIENT_NOT_FOUND: ("cpr", _("Digital Post does not know this CPR number. Check the digits.")),
        MailFailure.UNAVAILABLE: (
            None,
            _("Digital Post is not answering right now. Enter your CPR number and try again in a moment."),
        ),
        MailFailure.NO_ANSWER: (
            None,
            _("Digital Post did not answer in time. Enter your CPR number and try again in a moment."),
        ),
        MailFailure.INTERRUPTED: (None, _("Sending the mail was interrupted. Enter your CPR number and try again.")),
        MailFailure.STALLED: (
            None,
            _(
                "The mail was not sent within %(minutes)d minutes: the background worker may be stopped. Enter your CPR number and try again; if it happens again, tell your Postbud operator.",
                minutes=current_app.config["VERIFICATION_SEND_DEADLINE"] // 60,
            ),
        ),
        MailFailure.QUEUE_UNAVAILABLE: (
            None,
            _("The mail could not be queued right now. Enter your CPR number and try again in a moment."),
        ),
        MailFailure.EXPIRED: (None, _("The verification took too long. Enter your CPR number and try again.")),
    }
    return advice.get(code or "", (None, _("The mail could not be sent. Check the settings and try again.")))


def failed_step1(current, **htmx):
    via = VIA_SF1601 if current.pending_transport == TransportKind.SF1601 else None
    form = connect_form(current, via=via, formdata=None)
    form.sender_cvr.data = current.pending_sender_cvr
    field, text = error_advice(current.mail_failure)
    if field == "sender_cvr" and via:
        text = _(
            "This CVR number has no service agreement for sending with this certificate. Use the CVR of the organization the certificate was issued to."
        )
    if field == "api_key":
        if via:
            field = None
        else:
            form.known_key_last4 = None  # this key was refused: a new one is needed
    if field == "certificate" and not via:
        field = None
    if field:
        getattr(form, field).errors = [text]
    return step1(form, current, **htmx, general_error=None if field else text, status=200)


# --- deactivation: a pop-up to confirm, then the admin's password ----------


def password_limit() -> AttemptLimit:
    cfg = current_app.config
    return AttemptLimit("deactivate-password", cfg["PASSWORD_MAX_FAILURES"], cfg["LOGIN_LOCKOUT_SECONDS"])


class DeactivateForm(Form):
    password = PasswordField(_l("Password"), render_kw={"autocomplete": "current-password"})


@bp.get("/deactivate")
@admin_required
def deactivate_confirm():
    current = integration()
    if current is None or not current.is_active:
        return render_fragment(
            "errors/_error.html",
            PAGE,
            status=409,
            code=409,
            title=_("Not possible here"),
            message=_("Digital Post is not enabled."),
        )
    return render_template(
        "settings/_deactivate_confirm.html", sends=count_scheduled_sends(g.org.id), members=access_count(g.org.id)
    )


@bp.get("/deactivate/password")
@admin_required
def deactivate_password():
    return render_template("settings/_deactivate_password.html", form=DeactivateForm(formdata=None))


@bp.post("/deactivate")
@admin_required
def deactivate():
    form = DeactivateForm()
    limit, subject = password_limit(), str(g.membership.user_id)
    wait = limit.take(subject)
    if wait:
        form.password.errors = [_("Too many wrong passwords. Try again in %(minutes)d minutes.", minutes=minutes(wait))]
        return render_template("settings/_deactivate_password.html", form=form), 429
    if not form.validate() or not g.membership.user.check_password(form.password.data or ""):
        form.password.errors = [_("Wrong password. Nothing was changed.")]
        return render_template("settings/_deactivate_password.html", form=form), 422
    limit.reset(subject)
    deactivate_integration(g.org.id, g.membership.user_id)
    db.session.commit()
    flash(_("Digital Post is deactivated. No invitations or reminders will be sent."), "success")
    return go_to(url_for("settings.index"))
