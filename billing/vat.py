"""Which VAT applies to a supply: one rule function that records the rule it applied.

The seller is a UK VAT-registered hosting provider; hosting and related services are
"electronically supplied services" / general B2B services for place-of-supply purposes.

Rules (docs/billing.md, "Which VAT applies"):
- UK customer (GB, and Northern Ireland which is GB for services): UK VAT at the rate in
  force on the tax point for the supply's VAT category (the dated table of rates staff
  keep in the admin, ``billing.models.VatRate``, country GB).
- Customer outside the UK in business: outside the scope of UK VAT (the general B2B rule:
  the place of supply is where the business customer belongs, VAT Notice 741A s.6), so
  no UK VAT. Being in business is a recorded fact: a business legal form, or a business
  tax identifier on the customer (validated on entry, ``accounts.vat``), never inferred
  from an EU VAT number alone. In the EU the customer accounts for the VAT under the
  reverse charge, and the invoice carries REVERSE_CHARGE_WORDING; anywhere else it
  carries OUTSIDE_SCOPE_WORDING.
- Customer outside the UK as a consumer (no business form, no tax identifier): the VAT of their
  country for the line's category in force on the tax point, from the same dated table
  (e.g. EU rates under the One Stop Shop). A country, or a category of it, with no rate
  in force raises, naming both, so no invoice is issued with a guessed rate.

This module is below the models (docs/architecture.md), so the caller passes the table's
look-up: ``rates(country, category, on)`` gives the rate in force or None.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import models

from accounts.models import Customer


class VatCategory(models.TextChoices):
    STANDARD = "standard", "Standard rate"
    REDUCED = "reduced", "Reduced rate"
    ZERO = "zero", "Zero rate"
    EXEMPT = "exempt", "Exempt"


# The country whose rates apply to customers in the UK VAT area.
UK_RATE_COUNTRY = "GB"
RateLookup = Callable[[str, str, dt.date], Decimal | None]

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


# Each rule in plain words, as staff read it on a document's page.
RULE_LABELS = {
    "uk_rate": "UK rates (customer in the UK VAT area)",
    "reverse_charge": "Reverse charge (business customer in the EU)",
    "outside_scope": "Outside the scope of UK VAT (business customer outside the UK and EU)",
    "consumer_country_rate": "The customer's country's rates (consumer outside the UK)",
    NOT_A_SUPPLY: "No VAT: late-payment interest and compensation are not a supply",
}


# The rules under which no UK VAT is charged because the supply is outside its scope.
OUTSIDE_SCOPE_RULES = {
    "reverse_charge": "Reverse charge",
    "outside_scope": "Outside the scope",
    NOT_A_SUPPLY: "Outside the scope",
}


def _in_force(rates: RateLookup, country: str, category: str, on: dt.date, *, who: str) -> Decimal:
    rate = rates(country, category, on)
    if rate is None:
        what = "" if category == VatCategory.STANDARD else f" for the {category} category"
        raise VatRuleError(
            f"No VAT rate{what} is in force on {on.day} {on:%B %Y} for {who}: add the rate for {country}"
            f"{'' if category == VatCategory.STANDARD else ' (' + category + ')'} in the admin "
            "(Billing → VAT rates) before invoicing this customer."
        )
    return Decimal(rate)


def decide_vat(
    customer: Customer, *, tax_point: dt.date, category: str = VatCategory.STANDARD, rates: RateLookup
) -> VatDecision:
    """The VAT for a supply of ``category`` to ``customer`` with tax point ``tax_point``."""
    country = (customer.country.code or "GB").upper()
    if country in UK_COUNTRIES:
        rate = _in_force(rates, UK_RATE_COUNTRY, category, tax_point, who="customers in the UK")
        return VatDecision(rate, "uk_rate", country)
    if customer.is_business or customer.vat_number:
        # In business by its legal form or its tax identifier (validated on entry, accounts.vat).
        if country in EU_COUNTRIES:
            return VatDecision(Decimal("0"), "reverse_charge", country, REVERSE_CHARGE_WORDING)
        return VatDecision(Decimal("0"), "outside_scope", country, OUTSIDE_SCOPE_WORDING)
    rate = _in_force(rates, country, category, tax_point, who=f"consumers in {customer.country.name} ({country})")
    return VatDecision(rate, "consumer_country_rate", country)
