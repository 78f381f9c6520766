"""When a share's rounds go out: entered in Europe/Copenhagen, stored in UTC.

A wall-clock time that does not exist (the hour skipped when summer time
starts) is refused; one that exists twice (when it ends) means the first.
A reminder "N days after" keeps the invitation's wall-clock time across a
change of daylight-saving time.
"""

from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

from models.base import utcnow
from models.sharing import MAX_REMINDERS, PlannedRound, RoundKind

LOCAL = ZoneInfo("Europe/Copenhagen")
MAX_DAYS_AHEAD = 366
MAX_REMINDER_DAYS = 60


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


def plan(
    invitation_at: datetime | None, reminders: list[tuple[str, int | None, datetime | None]]
) -> list[PlannedRound]:
    """The rounds of a share: the invitation (None: now) and its reminders,
    each (mode, days, at). Validation of order and range is the form's."""
    start = invitation_at or utcnow()
    rounds = [PlannedRound(RoundKind.INVITATION, start)]
    for mode, days, at in reminders[:MAX_REMINDERS]:
        when = days_after(start, days) if mode == ReminderMode.DAYS else at
        rounds.append(PlannedRound(RoundKind.REMINDER, when))
    return rounds
