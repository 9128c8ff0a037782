"""Which VAT applies to a supply: one rule function that records the rule it applied.

The seller is a UK VAT-registered hosting provider; hosting and related services are
"electronically supplied services" / general B2B services for place-of-supply purposes.

Rules (docs/billing.md, "Which VAT applies"):
- UK customer (GB, and Northern Ireland which is GB for services): UK VAT at the rate in
  force on the tax point for the supply's VAT category (dated table, UK_RATES).
- Customer outside the UK in business, with a valid VAT number: outside the scope of UK
  VAT; the customer accounts for VAT under the reverse charge (place of supply is where
  the business customer belongs, VAT Notice 741A s.6). The invoice carries REVERSE_CHARGE_WORDING.
- Customer outside the UK as a consumer (or without a valid VAT number): the VAT of their
  country from the configurable table ``PORTAL_CONSUMER_VAT_RATES`` (e.g. EU rates under
  the One Stop Shop): ``DE`` is Germany's standard rate, ``DE:reduced`` its rate for
  supplies in our reduced category, and so on. A country, or a non-standard category of
  it, with no entry raises, naming both, so no invoice is issued with a guessed rate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import models

from accounts.models import Customer


class VatCategory(models.TextChoices):
    STANDARD = "standard", "Standard rate"
    REDUCED = "reduced", "Reduced rate"
    ZERO = "zero", "Zero rate"
    EXEMPT = "exempt", "Exempt"


# (category, from date inclusive, rate). The rate in force on a date is the latest
# entry starting on or before it. Source: gov.uk "VAT rates" and HMRC history.
UK_RATES: tuple[tuple[str, dt.date, Decimal], ...] = (
    (VatCategory.STANDARD, dt.date(2008, 12, 1), Decimal("15")),
    (VatCategory.STANDARD, dt.date(2010, 1, 1), Decimal("17.5")),
    (VatCategory.STANDARD, dt.date(2011, 1, 4), Decimal("20")),
    (VatCategory.REDUCED, dt.date(1997, 9, 1), Decimal("5")),
    (VatCategory.ZERO, dt.date(1973, 4, 1), Decimal("0")),
    (VatCategory.EXEMPT, dt.date(1973, 4, 1), Decimal("0")),
)

UK_COUNTRIES = {"GB", "IM"}  # the Isle of Man is in the UK VAT area
REVERSE_CHARGE_WORDING = "Reverse charge: the customer must account for any VAT due in their country."


class VatRuleError(ValueError):
    """No rule gives a rate: the message names what is missing."""


@dataclass(frozen=True)
class VatDecision:
    rate: Decimal  # percent, e.g. Decimal("20")
    rule: str  # uk_rate | reverse_charge | consumer_country_rate
    country: str
    wording: str = ""  # printed on the invoice when the rule needs it

    @property
    def is_reverse_charge(self) -> bool:
        return self.rule == "reverse_charge"


def uk_rate(category: str, on: dt.date) -> Decimal:
    in_force = [(start, rate) for cat, start, rate in UK_RATES if cat == category and start <= on]
    if not in_force:
        raise VatRuleError(f"No UK {category} VAT rate is known for {on:%d %B %Y}.")
    return max(in_force)[1]


def decide_vat(customer: Customer, *, tax_point: dt.date, category: str = VatCategory.STANDARD) -> VatDecision:
    country = (customer.country.code or "GB").upper()
    if country in UK_COUNTRIES:
        return VatDecision(uk_rate(category, tax_point), "uk_rate", country)
    if customer.is_business and customer.vat_number:
        # The number was validated on entry (accounts.vat); a business outside the UK.
        return VatDecision(Decimal("0"), "reverse_charge", country, REVERSE_CHARGE_WORDING)
    rates: dict = getattr(settings, "PORTAL_CONSUMER_VAT_RATES", {})
    key = country if category == VatCategory.STANDARD else f"{country}:{category}"
    if key not in rates:
        what = "" if category == VatCategory.STANDARD else f" for the {category} category"
        raise VatRuleError(
            f"No VAT rate{what} is configured for consumers in {customer.country.name} ({country}): "
            f"add {key}=<percent> to PORTAL_CONSUMER_VAT_RATES before invoicing this customer."
        )
    return VatDecision(Decimal(str(rates[key])), "consumer_country_rate", country)
