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
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from digitalpost.memo import CONTROL_CHARACTERS
from models.sharing import BODY_MAX, MAX_REMINDERS, MAX_VARIABLES, NAME_MAX, SUBJECT_MAX, VARIABLE_MAX, RoundKind
from models.sharing.letters import MERGE_FIELD, unknown_merge_fields
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


class PasteForm(Form):
    text = TextAreaField(_l("Recipients, one per line"), render_kw={"rows": 8, "spellcheck": "false"})


class MessageForm(Form):
    subject = StringField(
        _l("Subject"),
        validators=[DataRequired(), Length(max=SUBJECT_MAX), letter_text],
        render_kw={"maxlength": SUBJECT_MAX},
    )
    body = TextAreaField(
        _l("Message"), validators=[DataRequired(), Length(max=BODY_MAX), letter_text], render_kw={"rows": 10}
    )

    def __init__(self, *args, variables=(), fallbacks=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.variables = list(variables)
        # What each merge field reads where a recipient lacks its value
        # (inputs fallback-<FIELD>, one per field some recipients lack).
        self.fallbacks = dict(fallbacks or {})
        self.fallback_errors: dict[str, str] = {}

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for name, text in self.fallbacks.items():
            if len(text) > VARIABLE_MAX:
                self.fallback_errors[name] = _("At most %(n)d characters.", n=VARIABLE_MAX)
            elif CONTROL_CHARACTERS.search(text):
                self.fallback_errors[name] = _(
                    "Remove the invisible control character (such as BEL or ESC): Digital Post refuses letters with it."
                )
            elif holds_cpr(text):
                self.fallback_errors[name] = _("A CPR number cannot stand in a letter. Write something else.")
        return valid and not self.fallback_errors

    def validate_subject(self, field):
        self._known_fields(field)

    def validate_body(self, field):
        self._known_fields(field)

    def _known_fields(self, field):
        unknown = unknown_merge_fields(field.data or "", self.variables)
        if unknown:
            raise ValidationError(
                _(
                    "Unknown merge field: %(fields)s. Use one of those listed below.",
                    fields=", ".join(f"[{u}]" for u in unknown),
                )
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
