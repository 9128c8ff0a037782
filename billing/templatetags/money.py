"""``{{ amount|money:currency }}``: an amount formatted as ``billing.money.format_money`` does (£1,234.50)."""

from __future__ import annotations

from django import template

from billing.money import format_money

register = template.Library()


@register.filter
def money(amount, currency: str = "GBP") -> str:
    return "" if amount is None else format_money(amount, currency)
