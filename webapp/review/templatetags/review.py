from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value) -> str:
    """0.1234 → '12.3 %'; missing values (a run not evaluated yet) → '–'."""
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value * 100:.1f} %"


@register.filter
def number(value, digits: int = 3) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value:.{digits}f}"


@register.filter
def duration(seconds) -> str:
    if not isinstance(seconds, (int, float)) or seconds < 0:
        return "–"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def minus(value: int, other: int) -> int:
    return value - other
