"""When a share's rounds go out: entered in Europe/Copenhagen, stored in UTC.

A wall-clock time that does not exist (the hour skipped when summer time
starts) is refused; one that exists twice (when it ends) means the first.
A reminder "N days after" keeps the invitation's wall-clock time across a
change of daylight-saving time. The rules of a schedule are here
(`check_schedule`); the form only maps their problems to its fields.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from models.base import utcnow
from models.sharing import MAX_REMINDERS, RoundKind

LOCAL = ZoneInfo("Europe/Copenhagen")
MAX_DAYS_AHEAD = 366
MAX_REMINDER_DAYS = 60


@dataclass
class PlannedRound:
    kind: RoundKind
    send_at: datetime


class When(StrEnum):
    NOW = "now"
    LATER = "later"


class ReminderMode(StrEnum):
    DAYS = "days"
    AT = "at"


class NonexistentTime(ValueError):
    pass


def to_utc(day: date, clock: time) -> datetime:
    naive = datetime.combine(day, clock)
    local = naive.replace(tzinfo=LOCAL)
    if local.astimezone(timezone.utc).astimezone(LOCAL).replace(tzinfo=None) != naive:
        raise NonexistentTime(naive.isoformat())
    return local.astimezone(timezone.utc)


def days_after(moment: datetime, days: int) -> datetime:
    local = moment.astimezone(LOCAL)
    wall = local.replace(tzinfo=None) + timedelta(days=days)
    return wall.replace(tzinfo=LOCAL).astimezone(timezone.utc)


def local(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL)


@dataclass(frozen=True)
class ReminderRequest:
    """One reminder as the member asked for it: days after the invitation,
    or a date and a time (Danish time)."""

    mode: ReminderMode
    days: int | None = None
    day: date | None = None
    clock: time | None = None


@dataclass(frozen=True)
class Problem:
    """Why a schedule cannot be kept, at the field it concerns: "date",
    "time" or "days" of the invitation (reminder None) or of a reminder."""

    field: str
    message: str
    reminder: int | None = None


@dataclass
class Schedule:
    rounds: list[PlannedRound]  # empty when there are problems
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_schedule(
    when: When, day: date | None, clock: time | None, reminders: list[ReminderRequest], now: datetime | None = None
) -> Schedule:
    """The rounds of a share, or every reason they cannot be: the invitation
    now or at a future time within MAX_DAYS_AHEAD, and up to MAX_REMINDERS
    reminders, each after the invitation and any earlier reminder."""
    now = now or utcnow()
    problems: list[Problem] = []
    invitation_at = None
    if when == When.LATER:
        invitation_at = _moment(day, clock, problems, None)
        if invitation_at is not None:
            if invitation_at <= now:
                problems.append(Problem("time", _l("The time has passed. Choose a time in the future.")))
            elif invitation_at > now + timedelta(days=MAX_DAYS_AHEAD):
                problems.append(Problem("date", _l("Choose a date within a year.")))
    start = invitation_at or now
    rounds, previous = [PlannedRound(RoundKind.INVITATION, start)], start
    for index, reminder in enumerate(reminders[:MAX_REMINDERS]):
        if reminder.mode == ReminderMode.DAYS:
            if reminder.days is None or not 1 <= reminder.days <= MAX_REMINDER_DAYS:
                message = _l("Enter a number of days from 1 to %(n)d.", n=MAX_REMINDER_DAYS)
                problems.append(Problem("days", message, index))
                continue
            moment = days_after(start, reminder.days)
        else:
            moment = _moment(reminder.day, reminder.clock, problems, index)
            if moment is None:
                continue
        if moment <= previous:
            message = _l("A reminder must come after the invitation and any earlier reminder.")
            problems.append(Problem("days" if reminder.mode == ReminderMode.DAYS else "time", message, index))
        previous = moment
        rounds.append(PlannedRound(RoundKind.REMINDER, moment))
    return Schedule([] if problems else rounds, problems)


def _moment(day: date | None, clock: time | None, problems: list[Problem], reminder: int | None) -> datetime | None:
    if day is None:
        problems.append(Problem("date", _l("Enter a date."), reminder))
        return None
    if clock is None:
        problems.append(Problem("time", _l("Enter a time, like 09:30."), reminder))
        return None
    try:
        return to_utc(day, clock)
    except OverflowError:  # a date at the calendar's ends (0001-01-01) has no UTC time
        problems.append(Problem("date", _l("Choose a date within a year."), reminder))
    except NonexistentTime:
        message = _l("This time does not exist on that date (the clocks go forward). Choose another.")
        problems.append(Problem("time", message, reminder))
    return None


def check_round_time(
    kind: RoundKind,
    day: date | None,
    clock: time | None,
    invitation_at: datetime | None,
    reminders_at: list[datetime],
    now: datetime | None = None,
) -> tuple[datetime | None, list[Problem]]:
    """A new time for one round that has not started, by the first
    schedule's rules: in the future and within MAX_DAYS_AHEAD; the
    invitation before every reminder left, a reminder after the invitation.
    invitation_at and reminders_at are the share's other rounds that still
    count (none cancelled). Problems name "date" or "time"."""
    now = now or utcnow()
    problems: list[Problem] = []
    moment = _moment(day, clock, problems, None)
    if moment is None:
        return None, problems
    if moment <= now:
        problems.append(Problem("time", _l("The time has passed. Choose a time in the future.")))
    elif moment > now + timedelta(days=MAX_DAYS_AHEAD):
        problems.append(Problem("date", _l("Choose a date within a year.")))
    elif kind == RoundKind.INVITATION and reminders_at and moment >= min(reminders_at):
        problems.append(Problem("time", _l("The invitation must come before its reminders.")))
    elif kind == RoundKind.REMINDER and invitation_at is not None and moment <= invitation_at:
        problems.append(Problem("time", _l("A reminder must come after the invitation.")))
    return (None if problems else moment), problems
