"""The forms of a share's draft steps and of its test letter."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    FieldList,
    FormField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms import Form as SubForm  # a form inside a form: no CSRF field of its own
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError

from digitalpost.memo import CONTROL_CHARACTERS
from formats import number
from models.sharing import BODY_MAX, MAX_REMINDERS, MAX_VARIABLES, NAME_MAX, SUBJECT_MAX, VARIABLE_MAX, RoundKind
from models.sharing.letters import MERGE_FIELD, LetterText, LetterTooLong, Texts, unknown_merge_fields
from models.sharing.rows import holds_cpr
from models.sharing.schedule import ReminderMode, ReminderRequest, When, check_schedule
from views.forms import CprField, Form, TranslatedMeta, letter_text

# --- forms ----------------------------------------------------------------------

LANGUAGE_CHOICES = [SelectChoice("da", _l("Danish")), SelectChoice("en", _l("English"))]


class ManualForm(Form):
    first_name = StringField(_l("First name"), validators=[Length(max=NAME_MAX), letter_text])
    last_name = StringField(_l("Last name"), validators=[Length(max=NAME_MAX), letter_text])
    cpr = CprField(_l("CPR"))
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="da")


def not_a_cpr(form, field):
    if holds_cpr(field.data or ""):
        raise ValidationError(_("A CPR number cannot stand in a name. Write the name only."))


class FixRecipientForm(Form):
    first_name = StringField(_l("First name"), validators=[Length(max=NAME_MAX), letter_text, not_a_cpr])
    last_name = StringField(_l("Last name"), validators=[Length(max=NAME_MAX), letter_text, not_a_cpr])
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="da")


class PasteForm(Form):
    text = TextAreaField(_l("Recipients, one per line"), render_kw={"rows": 8, "spellcheck": "false"})


def _subject(label):
    return StringField(
        label, validators=[Optional(), Length(max=SUBJECT_MAX), letter_text], render_kw={"maxlength": SUBJECT_MAX}
    )


def _body(label):
    return TextAreaField(label, validators=[Optional(), Length(max=BODY_MAX), letter_text], render_kw={"rows": 10})


# The message step's fields of each letter: (subject, body) per round kind and language.
TEXT_FIELDS = {
    (RoundKind.INVITATION, "da"): ("subject", "body"),
    (RoundKind.INVITATION, "en"): ("subject_en", "body_en"),
    (RoundKind.REMINDER, "da"): ("reminder_subject", "reminder_body"),
    (RoundKind.REMINDER, "en"): ("reminder_subject_en", "reminder_body_en"),
}


class MessageForm(Form):
    """The invitation and the reminder, in Danish and optionally English.
    Only the Danish invitation is required; a text is its subject and body
    together, or neither."""

    TEXTS = TEXT_FIELDS  # (kind, language) to the names of its (subject, body)
    REQUIRED = _l("Write the subject of the invitation.")

    subject = _subject(_l("Subject"))
    body = _body(_l("Message"))
    subject_en = _subject(_l("Subject in English"))
    body_en = _body(_l("Message in English"))
    reminder_subject = _subject(_l("Subject of the reminder"))
    reminder_body = _body(_l("Message of the reminder"))
    reminder_subject_en = _subject(_l("Subject of the reminder in English"))
    reminder_body_en = _body(_l("Message of the reminder in English"))

    def __init__(self, *args, variables=(), fallbacks=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.variables = list(variables)
        # What each merge field reads where a recipient lacks its value
        # (inputs fallback-<FIELD>, one per field some recipients lack).
        self.fallbacks = dict(fallbacks or {})
        self.fallback_errors: dict[str, str] = {}

    def text_fields(self):
        """(kind, language, subject field, body field) of every letter."""
        return [(kind, lang, self[s], self[b]) for (kind, lang), (s, b) in self.TEXTS.items()]

    def texts(self) -> dict[RoundKind, Texts]:
        """The letters written, stripped: per kind, the languages given."""
        out: dict[RoundKind, Texts] = {}
        for kind, lang, subject, body in self.text_fields():
            if (subject.data or "").strip():
                out.setdefault(kind, {})[lang] = LetterText(subject.data.strip(), (body.data or "").strip())
        return {kind: by_language for kind, by_language in out.items() if by_language}

    @property
    def all_text(self) -> str:
        """Every subject and body, for what the merge fields lack."""
        return "\n".join(f.data or "" for _k, _l, s, b in self.text_fields() for f in (s, b))

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if not (self.subject.data or "").strip():
            self.subject.errors.append(str(self.REQUIRED))
        for kind, lang, subject, body in self.text_fields():
            has_subject, has_body = bool((subject.data or "").strip()), bool((body.data or "").strip())
            if has_subject and not has_body:
                body.errors.append(_("Write the message too, or leave the subject empty as well."))
            elif has_body and not has_subject and not subject.errors:
                subject.errors.append(_("Write the subject too, or leave the message empty as well."))
        reminder_en = "reminder_subject_en" in self and (self.reminder_subject_en.data or "").strip()
        if reminder_en and not (self.reminder_subject.data or "").strip() and not self.reminder_subject.errors:
            self.reminder_subject.errors.append(
                _("Write the Danish reminder too: recipients without an English text get it.")
            )
        for name, text in self.fallbacks.items():
            if len(text) > VARIABLE_MAX:
                self.fallback_errors[name] = _("At most %(n)d characters.", n=VARIABLE_MAX)
            elif CONTROL_CHARACTERS.search(text):
                self.fallback_errors[name] = _(
                    "Remove the invisible control character (such as BEL or ESC): Digital Post refuses letters with it."
                )
            elif holds_cpr(text):
                self.fallback_errors[name] = _("A CPR number cannot stand in a letter. Write something else.")
        for _k, _lang, subject, body in self.text_fields():
            for f in (subject, body):
                if not f.errors:
                    self._known_fields(f)
        return valid and not self.fallback_errors and not any(f.errors for f in self)

    def _known_fields(self, field):
        unknown = unknown_merge_fields(field.data or "", self.variables)
        if unknown:
            field.errors.append(
                _(
                    "Unknown merge field: %(fields)s. Use one of those listed below.",
                    fields=", ".join(f"[{u}]" for u in unknown),
                )
            )


class RoundForm(MessageForm):
    """A new time and text for one round that has not started."""

    TEXTS = {
        (RoundKind.INVITATION, "da"): ("subject", "body"),  # the round's own kind, whichever it is
        (RoundKind.INVITATION, "en"): ("subject_en", "body_en"),
    }
    REQUIRED = _l("Write the subject.")
    reminder_subject = reminder_body = reminder_subject_en = reminder_body_en = None
    date = DateField(_l("Date"), validators=[Optional()])
    time = TimeField(_l("Time (Danish time)"), validators=[Optional()])

    def round_texts(self) -> Texts:
        return self.texts().get(RoundKind.INVITATION, {})


def too_long_message(problem: LetterTooLong) -> str:
    if problem.field == "subject" and problem.kind == RoundKind.REMINDER:
        return _(
            "With the merge fields filled in, the subject of the reminder to %(who)s is longer than %(limit)d "
            "characters, which Digital Post refuses. Shorten it.",
            who=problem.recipient,
            limit=problem.limit,
        )
    if problem.field == "subject":
        return _(
            "With the merge fields filled in, the subject to %(who)s is longer than %(limit)d characters, "
            "which Digital Post refuses. Shorten it.",
            who=problem.recipient,
            limit=problem.limit,
        )
    return _(
        "With the merge fields filled in, the text to %(who)s is longer than %(limit)s characters, "
        "which Digital Post refuses. Shorten it.",
        who=problem.recipient,
        limit=number(problem.limit),
    )


FALLBACK_PREFIX = "fallback-"


def fallbacks_from(formdata) -> dict[str, str]:
    """The merge fields' fallback texts in a posted form: fallback-<FIELD>,
    for field names as merge fields spell them, stripped."""
    found = {}
    for key, value in formdata.items():
        name = key.removeprefix(FALLBACK_PREFIX)
        if key.startswith(FALLBACK_PREFIX) and MERGE_FIELD.fullmatch(f"[{name}]") and len(found) <= MAX_VARIABLES + 4:
            found[name] = value.strip()
    return found


class ReminderForm(SubForm):
    class Meta(TranslatedMeta):
        pass

    mode = RadioField(
        _l("When"),
        choices=[
            SelectChoice(ReminderMode.DAYS.value, _l("Days after the invitation")),
            SelectChoice(ReminderMode.AT.value, _l("At a date and time")),
        ],
        default=ReminderMode.DAYS.value,
    )
    days = IntegerField(_l("Days after the invitation"), default=7, validators=[Optional()])
    date = DateField(_l("Date"), validators=[Optional()])
    time = TimeField(_l("Time (Danish time)"), validators=[Optional()])


class ScheduleForm(Form):
    when = RadioField(
        _l("When"),
        choices=[SelectChoice(When.NOW.value, _l("Send now")), SelectChoice(When.LATER.value, _l("Schedule"))],
        default=When.NOW.value,
    )
    date = DateField(_l("Date"), validators=[Optional()])
    time = TimeField(_l("Time (Danish time)"), validators=[Optional()])
    reminders = FieldList(FormField(ReminderForm), min_entries=0, max_entries=MAX_REMINDERS)

    def validate(self, extra_validators=None):
        """Field by field, then the schedule's rules; each problem at its field."""
        if not super().validate(extra_validators):
            return False
        requests = [
            ReminderRequest(ReminderMode(e.form.mode.data), e.form.days.data, e.form.date.data, e.form.time.data)
            for e in self.reminders
        ]
        self.schedule = check_schedule(When(self.when.data), self.date.data, self.time.data, requests)
        for problem in self.schedule.problems:
            form = self if problem.reminder is None else self.reminders[problem.reminder].form
            form[problem.field].errors.append(str(problem.message))
        return self.schedule.ok


class TestLetterForm(Form):
    __test__ = False  # a form, whatever pytest thinks of the name

    cpr = CprField(_l("Your own CPR number"))
    kind = SelectField(
        _l("Letter"),
        choices=[SelectChoice(k.value, k.label) for k in RoundKind],
        default=RoundKind.INVITATION.value,
    )
