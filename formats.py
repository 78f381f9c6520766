"""How dates and counts read, per language: one place for the patterns.

Dates are unambiguous in both languages ("27 Nov 2026, 15:03", never the
US "11/27/26"), in the organization's time zone (BABEL_DEFAULT_TIMEZONE)."""

from flask import g
from flask_babel import format_date, format_datetime, format_number, format_percent, get_locale, get_translations

# A time says whose clock it is: every time here is Danish time.
DATETIME = {"da": "d. MMM y, HH:mm 'dansk tid'", "en": "d MMM y, HH:mm 'Danish time'"}
DATETIME_LONG = {"da": "EEEE d. MMMM y, HH:mm 'dansk tid'", "en": "EEEE d MMMM y, HH:mm 'Danish time'"}
DATE = {"da": "d. MMM y", "en": "d MMM y"}


def _pattern(patterns: dict) -> str:
    return patterns.get(get_locale().language, patterns["en"])


def when(value, long: bool = False) -> str:
    return format_datetime(value, _pattern(DATETIME_LONG if long else DATETIME)) if value else ""


def day(value) -> str:
    if not value:
        return ""
    # Members granted together show one date fifty times over: formatted
    # once a request (Babel takes about 40 µs a date).
    key = (value, _pattern(DATE))
    days = g.setdefault("formatted_days", {})
    if key not in days:
        days[key] = format_date(value, key[1])
    return days[key]


def number(value: int) -> str:
    """A count with the language's thousands separator: 1.805, 1,805 (the
    numberformat filter in templates)."""
    return format_number(value)


def plural(singular: str, plural: str, count: int, **values) -> str:
    """ngettext, with %(num)s filled as the number() reads (flask_babel's own
    ngettext fills it with the bare number), and any other values given."""
    return get_translations().ngettext(singular, plural, count) % {"num": number(count), **values}


def percent(share: float) -> str:
    """A share of a whole, rounded to a whole percent: "29 %" in Danish, "29%" in English."""
    return format_percent(share, "#,##0 %" if get_locale().language == "da" else "#,##0%")


def register(app) -> None:
    app.add_template_filter(percent)
    app.add_template_filter(when)
    app.add_template_filter(day)
