"""Money: Decimal only, never float (DESIGN.md mechanism 4)."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from babel.numbers import format_currency, get_currency_precision


def minor_unit(currency: str) -> Decimal:
    """The smallest unit of ``currency``: 0.01 for GBP and EUR, 1 for JPY (from CLDR via babel)."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


def to_money(amount: Decimal | int | str, currency: str = "GBP") -> Decimal:
    """Round an amount to the currency's minor unit, half up (prices, line totals)."""
    if isinstance(amount, float):
        raise TypeError("Money is never a float: pass a Decimal, an int or a string.")
    return Decimal(amount).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def vat_down(amount: Decimal, currency: str = "GBP") -> Decimal:
    """VAT rounded down to the minor unit: VAT Notice 700 s.17.5, invoice-level rounding."""
    return Decimal(amount).quantize(minor_unit(currency), rounding=ROUND_DOWN)


def format_money(amount: Decimal, currency: str = "GBP", locale: str = "en_GB") -> str:
    return format_currency(amount, currency, locale=locale)
