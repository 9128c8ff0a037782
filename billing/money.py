"""Money: Decimal only, never float (docs/architecture.md, "Documents")."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import get_currency_precision


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
    """``amount`` as the locale writes it, e.g. "£1,234.50" (babel's ``format_currency``).

    Lists show hundreds of amounts, most of them alike (the same monthly price), so each
    distinct one is formatted once per process: babel's call costs tens of microseconds.
    """
    # Keyed by the text, not the Decimal: Decimal("-0") == Decimal("0") but prints differently.
    return _formatted(str(amount), currency, locale)


@lru_cache(maxsize=8192)
def _formatted(amount: str, currency: str, locale: str) -> str:
    parsed = _locale(locale)
    return parsed.currency_formats["standard"].apply(Decimal(amount), parsed, currency=currency, currency_digits=True)


@lru_cache(maxsize=16)
def _locale(name: str) -> Locale:
    return Locale.parse(name)


def split_vat(nets: list[tuple[Decimal, Decimal]], currency: str = "GBP") -> list[tuple[Decimal, Decimal, Decimal]]:
    """(rate, net, VAT) per VAT rate, highest rate first, for an invoice's net total per rate.

    VAT Notice 700 s.17.5: the **total** VAT on the invoice is the exact VAT on all its
    supplies rounded down to the minor unit. Each rate's share is rounded down too, and
    the pennies that leaves between the shares and the total (at most one per rate but
    one) go to the rates with the largest fractions dropped, so the summary per rate adds
    up to the total exactly.
    """
    unit = minor_unit(currency)
    rows = sorted(nets, key=lambda row: row[0], reverse=True)
    exact = [net * rate / 100 for rate, net in rows]
    shares = [vat_down(vat, currency) for vat in exact]
    left = vat_down(sum(exact, Decimal(0)), currency) - sum(shares, Decimal(0))
    step = unit if left > 0 else -unit
    by_fraction = sorted(range(len(rows)), key=lambda i: exact[i] - shares[i], reverse=left > 0)
    for i in by_fraction[: int(abs(left) / unit)]:
        shares[i] += step
    return [(rate, net, share) for (rate, net), share in zip(rows, shares, strict=True)]
