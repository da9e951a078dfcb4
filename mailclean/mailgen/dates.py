"""Dates as mail clients write them, in the time zones of the corpus (no tz database: the
EU and US summer-time rules are computed).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MOIS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
         "septembre", "octobre", "novembre", "décembre")


def _last_sunday(year: int, month: int) -> date:
    last = date(year, month, 31)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _eu_summer(when: datetime) -> bool:
    start = datetime.combine(_last_sunday(when.year, 3), datetime.min.time(), UTC)
    end = datetime.combine(_last_sunday(when.year, 10), datetime.min.time(), UTC)
    return start + timedelta(hours=1) <= when < end + timedelta(hours=1)


def _offset(when: datetime, zone: str) -> int:
    """UTC offset in minutes of ``zone`` ("paris", "london", "utc", "newyork") at ``when``."""
    if zone == "paris":
        return 120 if _eu_summer(when) else 60
    if zone == "london":
        return 60 if _eu_summer(when) else 0
    if zone == "newyork":
        return -240 if 3 < when.month < 11 else -300
    return 0


def _format_date(when: datetime, zone: str, style: str = "plain") -> str:
    """A Date header value for the UTC instant ``when`` as seen in ``zone``.

    Styles: "plain" (``Mon, 3 Jun 2024 14:05:00 +0200``), "padded" (``03``), "comment"
    (``+0200 (CEST)``), "noweekday", "gmt" (``... 12:05:00 GMT``).
    """
    minutes = 0 if style == "gmt" else _offset(when, zone)
    local = when + timedelta(minutes=minutes)
    day = f"{local.day:02d}" if style == "padded" else str(local.day)
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    zone_text = "GMT" if style == "gmt" else f"{sign}{hours:02d}{mins:02d}"
    text = f"{day} {_MONTHS[local.month - 1]} {local.year} {local:%H:%M:%S} {zone_text}"
    if style != "noweekday":
        text = f"{_WEEKDAYS[local.weekday()]}, {text}"
    if style == "comment":
        text += " (CEST)" if minutes == 120 else " (CET)" if minutes == 60 else " (UTC)"
    return text


def _french_date(when: datetime) -> str:
    local = when + timedelta(minutes=_offset(when, "paris"))
    return f"{local:%d/%m/%Y} à {local:%H:%M}"


def _normalize_reference(reference: datetime) -> datetime:
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return reference.astimezone(UTC).replace(microsecond=0)
