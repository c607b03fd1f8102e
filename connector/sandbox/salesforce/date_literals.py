"""SOQL relative date literals as Salesforce defines them [SOQL and SOSL Reference, Date
Formats and Date Literals].

Each literal is a half-open range of days [start, end) around today:
- days: TODAY, YESTERDAY, TOMORROW; LAST_N_DAYS:n is today and the n days before it
  (LAST_N_DAYS:1 is yesterday and today); NEXT_N_DAYS:n starts tomorrow and excludes today;
  N_DAYS_AGO:n is that one day; LAST_90_DAYS / NEXT_90_DAYS are n = 90.
- weeks (starting Sunday, the en_US locale), months, quarters and years: THIS_x, LAST_x,
  NEXT_x are whole periods; LAST_N_x:n are the n whole periods before the current one (the
  current one excluded), NEXT_N_x:n the n after it, N_x_AGO:n the one period n back.
- FISCAL quarters and years follow the org's fiscal year, which here starts in January (the
  default for a new org), so they equal the calendar ones.

Dates compare against the range directly; datetimes against its midnight bounds in the
user's time zone, UTC in the sandbox.
"""

from __future__ import annotations

from datetime import date, timedelta

_PERIODS = ("WEEK", "MONTH", "QUARTER", "YEAR", "FISCAL_QUARTER", "FISCAL_YEAR")
RELATIVE_DATES = frozenset(
    {"TODAY", "YESTERDAY", "TOMORROW", "LAST_90_DAYS", "NEXT_90_DAYS",
     "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"}
    | {f"{w}_{p}" for w in ("THIS", "LAST", "NEXT") for p in _PERIODS}
    | {f"{w}_N_{p}S" for w in ("LAST", "NEXT") for p in _PERIODS}
    | {f"N_{p}S_AGO" for p in _PERIODS}
)


def takes_n(word: str) -> bool:
    """True for the literals written with ':n' (LAST_N_MONTHS:3, N_DAYS_AGO:7)."""
    return word.startswith("N_") or "_N_" in word


def date_range(word: str, n: int, today: date) -> tuple[date, date]:
    """[start, end) of the relative date literal `word` (with `n` where it takes one)."""
    if word.endswith("_DAYS") or word.endswith("DAYS_AGO") or word in ("TODAY", "YESTERDAY",
                                                                      "TOMORROW"):
        return _days(word, n, today)
    kind, period = _split(word)
    start = _period_start(period, today)
    lo, hi = {
        "THIS": (0, 1), "LAST": (-1, 0), "NEXT": (1, 2),
        "LAST_N": (-n, 0), "NEXT_N": (1, n + 1), "AGO": (-n, -n + 1),
    }[kind]
    return _shift(period, start, lo), _shift(period, start, hi)


def _days(word: str, n: int, today: date) -> tuple[date, date]:
    if word in ("LAST_90_DAYS", "NEXT_90_DAYS"):
        word, n = word.replace("90", "N"), 90
    lo, hi = {
        "TODAY": (0, 1), "YESTERDAY": (-1, 0), "TOMORROW": (1, 2),
        "LAST_N_DAYS": (-n, 1), "NEXT_N_DAYS": (1, n + 1), "N_DAYS_AGO": (-n, -n + 1),
    }[word]
    return today + timedelta(days=lo), today + timedelta(days=hi)


def _split(word: str) -> tuple[str, str]:
    """('LAST_N', 'MONTH') for LAST_N_MONTHS, ('AGO', 'QUARTER') for N_QUARTERS_AGO."""
    if word.startswith("N_"):
        return "AGO", word[2:].removesuffix("S_AGO").replace("FISCAL_", "")
    for kind in ("LAST_N", "NEXT_N"):
        if word.startswith(kind + "_"):
            return kind, word[len(kind) + 1:].removesuffix("S").replace("FISCAL_", "")
    kind, _, period = word.partition("_")
    return kind, period.replace("FISCAL_", "")


def _period_start(period: str, today: date) -> date:
    if period == "WEEK":
        return today - timedelta(days=(today.weekday() + 1) % 7)  # back to Sunday
    if period == "MONTH":
        return today.replace(day=1)
    if period == "QUARTER":
        return today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    return today.replace(month=1, day=1)


def _shift(period: str, start: date, k: int) -> date:
    if period == "WEEK":
        return start + timedelta(weeks=k)
    months = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[period] * k
    total = start.year * 12 + start.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)
