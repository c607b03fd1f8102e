"""Relative SOQL date literals as half-open day ranges around a fixed today."""

from __future__ import annotations

from datetime import date

import pytest

from connector.sandbox.salesforce.date_literals import RELATIVE_DATES, date_range, takes_n

TODAY = date(2026, 6, 3)  # a Wednesday in Q2


@pytest.mark.parametrize("word, n, start, end", [
    ("TODAY", 0, "2026-06-03", "2026-06-04"),
    ("LAST_N_DAYS", 1, "2026-06-02", "2026-06-04"),  # yesterday and today
    ("NEXT_N_DAYS", 2, "2026-06-04", "2026-06-06"),  # today excluded
    ("N_DAYS_AGO", 3, "2026-05-31", "2026-06-01"),
    ("LAST_90_DAYS", 0, "2026-03-05", "2026-06-04"),
    ("THIS_WEEK", 0, "2026-05-31", "2026-06-07"),  # weeks start on Sunday (en_US)
    ("LAST_N_WEEKS", 2, "2026-05-17", "2026-05-31"),
    ("THIS_MONTH", 0, "2026-06-01", "2026-07-01"),
    ("LAST_N_MONTHS", 24, "2024-06-01", "2026-06-01"),  # the current month excluded
    ("NEXT_N_MONTHS", 7, "2026-07-01", "2027-02-01"),
    ("N_MONTHS_AGO", 6, "2025-12-01", "2026-01-01"),
    ("LAST_QUARTER", 0, "2026-01-01", "2026-04-01"),
    ("NEXT_N_QUARTERS", 3, "2026-07-01", "2027-04-01"),
    ("THIS_YEAR", 0, "2026-01-01", "2027-01-01"),
    ("LAST_N_YEARS", 2, "2024-01-01", "2026-01-01"),
    ("N_FISCAL_YEARS_AGO", 1, "2025-01-01", "2026-01-01"),  # fiscal year starts in January
    ("THIS_FISCAL_QUARTER", 0, "2026-04-01", "2026-07-01"),
])
def test_ranges(word, n, start, end):
    assert word in RELATIVE_DATES and takes_n(word) == ("_N_" in word or word.startswith("N_"))
    assert date_range(word, n, TODAY) == (date.fromisoformat(start), date.fromisoformat(end))


def test_every_literal_has_a_range():
    for word in RELATIVE_DATES:
        lo, hi = date_range(word, 2, TODAY)
        assert lo < hi, word
