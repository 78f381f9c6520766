"""The forms of a share's draft steps and of its test letter."""

from datetime import timedelta

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

from models.base import utcnow
from models.schedule import (
    MAX_DAYS_AHEAD,
    MAX_REMINDER_DAYS,
    NonexistentTime,
    ReminderMode,
    When,
    days_after,
    to_utc,
)
from models.sharing import (
    BODY_MAX,
    MAX_REMINDERS,
    NAME_MAX,
    SUBJECT_MAX,
    RoundKind,
    unknown_merge_fields,
)
from views.forms import CprField, Form, letter_text

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

    def __init__(self, *args, variables=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.variables = list(variables)

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


class ReminderForm(SubForm):
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
    time = TimeField(_l("Time"), validators=[Optional()])


class ScheduleForm(Form):
    when = RadioField(
        _l("When"),
        choices=[SelectChoice(When.NOW.value, _l("Send now")), SelectChoice(When.LATER.value, _l("Schedule"))],
        default=When.NOW.value,
    )
    date = DateField(_l("Date"), validators=[Optional()])
    time = TimeField(_l("Time"), validators=[Optional()])
    reminders = FieldList(FormField(ReminderForm), min_entries=0, max_entries=MAX_REMINDERS)

    def validate(self, extra_validators=None):
        """Field by field, then the times together; each error at its field."""
        if not super().validate(extra_validators):
            return False
        now = utcnow()
        self.invitation_at = None
        if self.when.data == When.LATER:
            self.invitation_at = self._moment(self.date, self.time)
            if self.invitation_at is not None:
                if self.invitation_at <= now:
                    self.time.errors.append(_("The time has passed. Choose a time in the future."))
                elif self.invitation_at > now + timedelta(days=MAX_DAYS_AHEAD):
                    self.date.errors.append(_("Choose a date within a year."))
        start = self.invitation_at or now
        self.planned_reminders, previous = [], start
        for entry in self.reminders:
            reminder = entry.form
            if reminder.mode.data == ReminderMode.DAYS:
                if reminder.days.data is None or not 1 <= reminder.days.data <= MAX_REMINDER_DAYS:
                    reminder.days.errors.append(_("Enter a number of days from 1 to %(n)d.", n=MAX_REMINDER_DAYS))
                    continue
                moment = days_after(start, reminder.days.data)
                self.planned_reminders.append((ReminderMode.DAYS, reminder.days.data, None))
            else:
                moment = self._moment(reminder.date, reminder.time)
                if moment is None:
                    continue
                self.planned_reminders.append((ReminderMode.AT, None, moment))
            if moment <= previous:
                (reminder.days if reminder.mode.data == ReminderMode.DAYS else reminder.time).errors.append(
                    _("A reminder must come after the invitation and any earlier reminder.")
                )
            previous = moment
        return not self.errors_after_validate()

    def errors_after_validate(self) -> bool:
        return bool(
            self.date.errors
            or self.time.errors
            or any(e.form.days.errors or e.form.date.errors or e.form.time.errors for e in self.reminders)
        )

    @staticmethod
    def _moment(date_field, time_field):
        if date_field.data is None:
            date_field.errors.append(_("Enter a date."))
            return None
        if time_field.data is None:
            time_field.errors.append(_("Enter a time, like 09:30."))
            return None
        try:
            return to_utc(date_field.data, time_field.data)
        except OverflowError:  # a date at the calendar's ends (0001-01-01) has no UTC time
            date_field.errors.append(_("Choose a date within a year."))
            return None
        except NonexistentTime:
            time_field.errors.append(
                _("This time does not exist on that date (the clocks go forward). Choose another.")
            )
            return None


class TestLetterForm(Form):
    __test__ = False  # a form, whatever pytest thinks of the name

    cpr = CprField(_l("Your own CPR number"))
    kind = SelectField(
        _l("Letter"),
        choices=[SelectChoice(k.value, k.label) for k in RoundKind],
        default=RoundKind.INVITATION.value,
    )
