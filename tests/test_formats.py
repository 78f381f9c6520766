"""Counts and dates read the same way everywhere, in each language."""

from datetime import UTC, datetime

import pytest
from flask_babel import force_locale

from formats import day, plural, when

MOMENT = datetime(2026, 11, 27, 2, 3, tzinfo=UTC)  # 03:03 in Copenhagen


@pytest.mark.parametrize(
    "language,granted,date,moment",
    [
        ("da", "1.805 medlemmer har nu adgang.", "27. nov. 2026", "27. nov. 2026, 03:03 dansk tid"),
        ("en", "1,805 members now have access.", "27 Nov 2026", "27 Nov 2026, 03:03 Danish time"),
    ],
)
def test_counts_have_thousands_separators_and_dates_are_unambiguous(app, language, granted, date, moment):
    with app.test_request_context(), force_locale(language):
        assert plural("%(num)s member now has access.", "%(num)s members now have access.", 1805) == granted
        assert day(MOMENT) == date
        assert when(MOMENT) == moment
        assert "/" not in when(MOMENT)  # never the US 11/27/26
