"""The base of every form here, and parsing of numbers from the URL or form."""

from collections.abc import Callable

from flask import current_app, request
from flask_babel import get_translations
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto, _is_submitted
from wtforms import StringField
from wtforms.validators import ValidationError

from digitalpost import InvalidCPR, normalize_cpr
from digitalpost.memo import CONTROL_CHARACTERS

# The largest id or page number a view accepts: anything bigger is no row of
# ours, and would overflow SQLite's and PostgreSQL's integers.
MAX_INT = 2**31 - 1


def N_(message: str) -> str:
    """Marks a message for extraction (make translations) without translating it."""
    return message


def Np_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a message with a plural for extraction."""
    return singular, plural


# WTForms' own messages, which it has no Danish for: named here so that
# translations/ carries them, and looked up there by BabelTranslations.
WTFORMS_MESSAGES = (
    N_("This field is required."),
    N_("Not a valid choice."),
    N_("Not a valid integer value."),
    N_("Not a valid date value."),
    N_("Not a valid time value."),
    N_("Invalid input."),
    N_("Invalid email address."),
    N_("Number must be at least %(min)s."),
    N_("Number must be at most %(max)s."),
    N_("Number must be between %(min)s and %(max)s."),
    N_("Field must be between %(min)d and %(max)d characters long."),
    Np_("Field cannot be longer than %(max)d character.", "Field cannot be longer than %(max)d characters."),
    Np_("Field must be at least %(min)d character long.", "Field must be at least %(min)d characters long."),
    Np_("Field must be exactly %(max)d character long.", "Field must be exactly %(max)d characters long."),
)


class BabelTranslations:
    """WTForms' messages through Postbud's catalog, in the request's
    language. Uninterpolated: WTForms fills in its own values."""

    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ungettext(singular, plural, n)


BABEL_TRANSLATIONS = BabelTranslations()


class TranslatedMeta:
    """For a form inside a form (wtforms.Form): WTForms' messages translated too."""

    def get_translations(self, form):
        return BABEL_TRANSLATIONS


class Form(FlaskForm):
    """A FlaskForm that reads only the urlencoded or multipart text fields,
    and speaks the request's language in WTForms' own messages too.

    Flask-WTF would also hand a text field an uploaded file, or a JSON body's
    lists and objects, when a client sends those under the field's name; no
    form here takes either, and the validators expect text.
    """

    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            return BABEL_TRANSLATIONS

        def wrap_formdata(self, form, formdata):
            if formdata is _Auto:
                return request.form if _is_submitted() else None
            return formdata


def large_body(max_content_length: int | Callable[[], int], max_form_memory_size: int):
    """Let one view take a bigger body than MAX_CONTENT_LENGTH allows the
    rest; read by apply_body_limits, before the CSRF check reads the form.
    A callable is asked on each request (a limit from the app's settings)."""

    def mark(view):
        view.body_limits = (max_content_length, max_form_memory_size)
        return view

    return mark


def apply_body_limits():
    view = current_app.view_functions.get(request.endpoint or "")
    limits = getattr(view, "body_limits", None)
    if limits:
        content, form = limits
        request.max_content_length = content() if callable(content) else content
        request.max_form_memory_size = form


def small_int(text: str) -> int:
    """For request.args.get(..., type=small_int): ASCII digits within MAX_INT,
    else ValueError, which makes Werkzeug use the default."""
    text = text.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 11 or abs(int(text)) > MAX_INT:
        raise ValueError("not a small integer")
    return int(text)


def letter_text(form, field):
    """Text that goes into a letter: no control characters, which MeMo cannot carry."""
    if CONTROL_CHARACTERS.search(field.data or ""):
        raise ValidationError(
            _("Remove the invisible control character (such as BEL or ESC): Digital Post refuses letters with it.")
        )


def cpr_number(form, field):
    """A CPR number, normalized to its 10 digits."""
    if not (field.data or "").strip():
        raise ValidationError(_("Enter the CPR number."))
    try:
        field.data = normalize_cpr(field.data)
    except InvalidCPR as exc:
        if exc.reason == "date":
            raise ValidationError(_("The first six digits must be a date of birth (DDMMYY).")) from None
        raise ValidationError(_("Enter 10 digits, like 010190-1234.")) from None


class CprField(StringField):
    """The one CPR input of every form: digits on a phone's keyboard, never
    remembered by the browser, normalized to 10 digits when valid."""

    def __init__(self, label=None, validators=(), **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "numeric", "autocomplete": "off", "maxlength": 11})
        super().__init__(label, [cpr_number, *validators], **kwargs)
