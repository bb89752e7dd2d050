"""Checking a schedule's cron expression and time zone as conductor-oss will read them.

The scheduler parses ``cronExpression`` with Spring's ``CronExpression.parse`` when it computes the next
run, long after the ``POST`` that stored it answered 200: an expression it cannot parse is stored, and the
schedule simply never runs. So idflow parses it the same way first. Spring's form (not crontab's, and not
quite Quartz's): six fields separated by spaces, ``second minute hour day-of-month month day-of-week``, or
one of the macros ``@yearly @annually @monthly @weekly @daily @midnight @hourly``. Each field is ``*``, a
number, a range ``a-b``, either with ``/step``, or a comma list of those; day-of-month and day-of-week
also take ``?`` (any); months take ``JAN``-``DEC`` and days ``MON``-``SUN`` (any case); day-of-week runs
0-7 (0 and 7 are Sunday); Quartz's ``L``, ``L-n``, ``nW``, ``LW`` (day of month) and ``nL``, ``n#k`` (day of
week) are understood. The server's own parser is the reference: ``tests/integration`` compares this
one with it (``GET /scheduler/nextFewSchedules``) expression by expression.

``zoneId`` is read by Java's ``ZoneId.of``: a region of the IANA time-zone database (``Europe/Berlin``),
``Z``, ``UTC``/``GMT``/``UT``, or a fixed offset (``+02:00``, ``UTC+2``).
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache

FIELD_NAMES = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")
MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_RANGES = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day-of-month": (1, 31), "month": (1, 12),
           "day-of-week": (0, 7)}  # fmt: skip
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_INT = re.compile(r"[+-]?\d+")


class CronProblem(ValueError):
    """What is wrong with an expression, for the user (names the field)."""


def check_cron(expression: str) -> None:
    """Raise ``CronProblem`` unless Spring's ``CronExpression.parse`` accepts ``expression``."""
    text = expression.strip()
    resolved = next((v for k, v in MACROS.items() if k == text.lower()), text)
    fields = [part.strip() for part in resolved.split(" ") if part.strip()]
    if len(fields) != 6:
        hint = " (crontab's five-field form needs a seconds field first, e.g. '0 ' + it)" if len(fields) == 5 else ""
        raise CronProblem(
            f"a cron expression has 6 fields (second minute hour day-of-month month day-of-week), "
            f"{expression!r} has {len(fields)}{hint}"
        )
    for name, value in zip(FIELD_NAMES, fields, strict=True):
        try:
            _check_field(name, value)
        except CronProblem as exc:
            raise CronProblem(f"the {name} field {value!r}: {exc}") from None


def _check_field(name: str, value: str) -> None:
    if name in ("month", "day-of-week"):
        names = _MONTHS if name == "month" else _DAYS
        value = _ordinals(value, names)
        if re.search(r"[A-KM-VX-Z]", value):  # letters left that are neither a name nor L, W
            raise CronProblem(f"names are {names[0]}-{names[-1]} (three letters)")
    dates = name in ("day-of-month", "day-of-week")
    quartz = (name == "day-of-month" and ("L" in value or "W" in value)) or (
        name == "day-of-week" and ("L" in value or "#" in value)
    )
    if not quartz:  # '?' stands for the whole field here; only Quartz-style lists take it per item
        _bits(name, "*" if dates and value == "?" else value)
        return
    for part in value.split(","):
        if name == "day-of-month" and ("L" in part or "W" in part):
            _quartz_day_of_month(part)
        elif name == "day-of-week" and ("L" in part or "#" in part):
            _quartz_day_of_week(part)
        else:
            _bits(name, "*" if part == "?" else part)


def _ordinals(value: str, names: tuple[str, ...]) -> str:
    upper = value.upper()
    for number, word in enumerate(names, 1):
        upper = upper.replace(word, str(number))
    return upper


def _number(text: str) -> int:
    if not _INT.fullmatch(text):
        raise CronProblem(f"{text!r} is not a number" if text else "a number is missing")
    return int(text)


def _in_range(name: str, number: int) -> int:
    low, high = _RANGES[name]
    if not low <= number <= high:
        raise CronProblem(f"{number} is outside {low}-{high}")
    return number


def _bits(name: str, value: str) -> None:
    for part in value.split(","):
        _bits_item(name, part)


def _bits_item(name: str, part: str) -> None:
    range_text, slash, step = part.partition("/")
    if slash and _number(step) <= 0:
        raise CronProblem("the step after '/' must be 1 or more")
    if range_text == "*":
        return
    low_text, dash, high_text = range_text.partition("-")
    low = _in_range(name, _number(low_text))
    if dash:
        high = _in_range(name, _number(high_text))
        if name == "day-of-week" and low == 7:
            low = 0  # Sunday as the start of a range is 0
        if low > high:
            raise CronProblem(f"the range {range_text} runs backwards")


def _day_of_week(text: str) -> None:
    number = _number(text)
    if not 0 <= number <= 7:
        raise CronProblem(f"{number} is outside 0-7")


def _quartz_day_of_month(part: str) -> None:
    last = part.rfind("L")
    if last != -1:
        if last != 0:
            raise CronProblem("nothing may come before 'L'")
        if part in ("L", "LW"):
            return
        offset = _number(part[1:])
        if offset >= 0:
            raise CronProblem(f"the offset in {part!r} must be negative ('L-3')")
        return
    week = part.rfind("W")
    if week == 0:
        raise CronProblem("a day of the month must come before 'W'")
    if week != len(part) - 1:
        raise CronProblem("nothing may come after 'W'")
    _in_range("day-of-month", _number(part[:week]))


def _quartz_day_of_week(part: str) -> None:
    last = part.rfind("L")
    if last != -1:
        if last != len(part) - 1:
            raise CronProblem("nothing may come after 'L'")
        if last == 0:
            raise CronProblem("a day of the week must come before 'L' ('5L': the last Friday)")
        _day_of_week(part[:last])
        return
    hash_at = part.rfind("#")
    if hash_at == 0:
        raise CronProblem("a day of the week must come before '#'")
    if hash_at == len(part) - 1:
        raise CronProblem("a number must come after '#' ('1#2': the second Monday)")
    _day_of_week(part[:hash_at])
    if _number(part[hash_at + 1 :]) <= 0:
        raise CronProblem("the number after '#' must be 1 or more")


_OFFSET = re.compile(r"[+-](\d{1,2})(?::?(\d{2})(?::?(\d{2}))?)?")


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_zone(zone: str) -> None:
    """Raise ``CronProblem`` unless Java's ``ZoneId.of`` accepts ``zone``."""
    if zone in ("Z", "UTC", "GMT", "UT"):
        return
    offset = zone
    for prefix in ("UTC", "GMT", "UT"):
        if zone.startswith(prefix) and zone[len(prefix) : len(prefix) + 1] in ("+", "-"):
            offset = zone[len(prefix) :]
            break
    if offset[:1] in ("+", "-"):
        match = _OFFSET.fullmatch(offset)
        parts = [int(p) for p in match.groups(default="0")] if match else []
        if not match or (len(match.group(1)) == 1 and match.group(2)) or parts[0] > 18 or parts[1] > 59 \
                or parts[2] > 59 or (parts[0] == 18 and (parts[1] or parts[2])):  # fmt: skip
            raise CronProblem(f"{zone!r} is not an offset Java reads (from -18:00 to +18:00, like '+02:00')")
        return
    zones = _zones()
    if not zones:
        return  # no time-zone database here (no tzdata): the server will say
    if zone not in zones:
        close = sorted(z for z in zones if z.lower() == zone.lower())
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CronProblem(f"{zone!r} is not a time zone (an IANA name like 'Europe/Berlin', or 'UTC'){hint}")
