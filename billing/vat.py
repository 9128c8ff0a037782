"""Which VAT applies to a supply: one rule function that records the rule it applied.

The seller is a UK VAT-registered hosting provider; hosting and related services are
"electronically supplied services" / general B2B services for place-of-supply purposes.

Rules (docs/billing.md, "Which VAT applies"):
- UK customer (GB, and Northern Ireland which is GB for services): UK VAT at the rate in
  force on the tax point for the supply's VAT category (dated table, UK_RATES).
- Customer outside the UK in business: outside the scope of UK VAT (the general B2B rule:
  the place of supply is where the business customer belongs, VAT Notice 741A s.6), so
  no UK VAT. Being in business is a recorded fact: a business legal form, or a business
  tax identifier on the customer (validated on entry, ``accounts.vat``), never inferred
  from an EU VAT number alone. In the EU the customer accounts for the VAT under the
  reverse charge, and the invoice carries REVERSE_CHARGE_WORDING; anywhere else it
  carries OUTSIDE_SCOPE_WORDING.
- Customer outside the UK as a consumer (no business form, no tax identifier): the VAT of their
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
# The EU member states, where a business customer accounts for our VAT by the reverse charge.
EU_COUNTRIES = {
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU",
    "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
}  # fmt: skip
REVERSE_CHARGE_WORDING = "Reverse charge: the customer must account for any VAT due in their country."
OUTSIDE_SCOPE_WORDING = (
    "Outside the scope of UK VAT: services supplied to a business customer belonging outside the UK "
    "(place of supply where the customer belongs, VAT Notice 741A section 6)."
)


# Late-payment interest and compensation (Late Payment of Commercial Debts (Interest) Act
# 1998) are not consideration for a supply (VAT Notice 700/45): no VAT, and the claim says so.
NOT_A_SUPPLY = "not_a_supply"
NOT_A_SUPPLY_WORDING = (
    "Statutory interest and fixed-sum compensation under the Late Payment of Commercial Debts (Interest) "
    "Act 1998 are not payment for a supply: outside the scope of VAT, so no VAT is charged."
)


class VatRuleError(ValueError):
    """No rule gives a rate: the message names what is missing."""


@dataclass(frozen=True)
class VatDecision:
    rate: Decimal  # percent, e.g. Decimal("20")
    rule: str  # uk_rate | reverse_charge | outside_scope | consumer_country_rate
    country: str
    wording: str = ""  # printed on the invoice when the rule needs it

    @property
    def is_reverse_charge(self) -> bool:
        return self.rule == "reverse_charge"


# The rules under which no UK VAT is charged because the supply is outside its scope.
OUTSIDE_SCOPE_RULES = {
    "reverse_charge": "Reverse charge",
    "outside_scope": "Outside the scope",
    NOT_A_SUPPLY: "Outside the scope",
}


def uk_rate(category: str, on: dt.date) -> Decimal:
    in_force = [(start, rate) for cat, start, rate in UK_RATES if cat == category and start <= on]
    if not in_force:
        raise VatRuleError(f"No UK {category} VAT rate is known for {on:%d %B %Y}.")
    return max(in_force)[1]


def decide_vat(customer: Customer, *, tax_point: dt.date, category: str = VatCategory.STANDARD) -> VatDecision:
    country = (customer.country.code or "GB").upper()
    if country in UK_COUNTRIES:
        return VatDecision(uk_rate(category, tax_point), "uk_rate", country)
    if customer.is_business or customer.vat_number:
        # In business by its legal form or its tax identifier (validated on entry, accounts.vat).
        if country in EU_COUNTRIES:
            return VatDecision(Decimal("0"), "reverse_charge", country, REVERSE_CHARGE_WORDING)
        return VatDecision(Decimal("0"), "outside_scope", country, OUTSIDE_SCOPE_WORDING)
    rates: dict = getattr(settings, "PORTAL_CONSUMER_VAT_RATES", {})
    key = country if category == VatCategory.STANDARD else f"{country}:{category}"
    if key not in rates:
        what = "" if category == VatCategory.STANDARD else f" for the {category} category"
        raise VatRuleError(
            f"No VAT rate{what} is configured for consumers in {customer.country.name} ({country}): "
            f"add {key}=<percent> to PORTAL_CONSUMER_VAT_RATES before invoicing this customer."
        )
    return VatDecision(Decimal(str(rates[key])), "consumer_country_rate", country)
