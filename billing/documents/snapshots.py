"""The seller's and buyer's details as copied onto a document when it is issued.

An issued document is drawn from these snapshots only, never from today's customer or
provider rows, so it reads the same in six years as on the day it was issued (VAT
Regulations 1995 reg 14: the supplier's and customer's names and addresses as they were).
They are stored as JSON on the invoice; these classes are the one place that writes and
reads that JSON, so every reader gets the same fields under the same names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Self


@dataclass(frozen=True)
class _Snapshot:
    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Self:
        """The snapshot stored on a document; a draft's empty one gives empty fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in (data or {}).items() if key in names})


@dataclass(frozen=True)
class SellerSnapshot(_Snapshot):
    """The provider as it was at issue: its registration, VAT number and how to pay it."""

    registered_name: str = ""
    trading_name: str = ""
    legal_form: str = ""
    registered_in: str = ""
    company_number: str = ""
    registered_office: list[str] = field(default_factory=list)
    vat_number: str = ""
    billing_email: str = ""
    bank_account_name: str = ""
    bank_sort_code: str = ""
    bank_account_number: str = ""
    bank_iban: str = ""
    bank_bic: str = ""

    @classmethod
    def of(cls, provider, payment) -> SellerSnapshot:
        """From the provider's details and billing's payment instructions (``BillingSettings``)."""
        return cls(
            registered_name=provider.registered_name,
            trading_name=provider.trading_name,
            legal_form=provider.legal_form,
            registered_in=provider.registered_in,
            company_number=provider.company_number,
            registered_office=provider.office_lines(),
            vat_number=provider.vat_number,
            billing_email=provider.billing_email,
            bank_account_name=payment.bank_account_name,
            bank_sort_code=payment.bank_sort_code,
            bank_account_number=payment.bank_account_number,
            bank_iban=payment.bank_iban,
            bank_bic=payment.bank_bic,
        )


@dataclass(frozen=True)
class BuyerSnapshot(_Snapshot):
    """The customer as it was at issue: legal name, postal address and VAT number."""

    registered_name: str = ""
    trading_name: str = ""
    legal_form: str = ""
    address: list[str] = field(default_factory=list)
    country: str = ""
    vat_number: str = ""
    company_number: str = ""

    def addressee_lines(self) -> list[str]:
        """The lines shown through the envelope window: the legal name, a different trading
        name, then the postal address."""
        trading = (
            [f"Trading as {self.trading_name}"]
            if self.trading_name and self.trading_name != self.registered_name
            else []
        )
        return [self.registered_name, *trading, *self.address]

    @classmethod
    def of(cls, customer) -> BuyerSnapshot:
        return cls(
            registered_name=customer.registered_name,
            trading_name=customer.trading_name,
            legal_form=customer.legal_form,
            address=customer.postal_address_lines(),
            country=customer.country.code if customer.country else "",
            vat_number=customer.vat_number,
            company_number=customer.company_number,
        )
