"""``sentence_case``: allauth's headings and buttons in the portal's sentence case."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from accounts.wording import sentence_case as _sentence_case

register = template.Library()


@register.filter(is_safe=True)
def sentence_case(value: str) -> str:
    # Only words are changed, never markup or entities, so safe text stays safe.
    result = _sentence_case(value)
    return mark_safe(result) if isinstance(value, SafeString) else result
