"""The codes the accountants' books use: our VAT code of each line, its Xero tax rate and
Sage tax code, the customer's account reference, with the defaults a UK provider starts
from. Staff keep them in the admin (``AccountingSettings``, ``AccountingTaxCode``,
``CustomerAccountReference``); nothing here is fixed in code except the defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from billing.models import AccountingSettings, AccountingTaxCode, CustomerAccountReference, VatCode
from billing.vat import VatCategory

# The defaults a migration writes into AccountingTaxCode (Xero UK's built-in rate names,
# Sage 50's standard UK tax codes). Another country's VAT under the One Stop Shop has no
# built-in rate in either: staff create one and map it before such lines can be exported.
DEFAULT_TAX_CODES: dict[str, tuple[str, str]] = {
    VatCode.STANDARD: ("20% (VAT on Income)", "T1"),
    VatCode.REDUCED: ("5% (VAT on Income)", "T5"),
    VatCode.ZERO: ("Zero Rated Income", "T0"),
    VatCode.EXEMPT: ("Exempt Income", "T2"),
    VatCode.REVERSE_CHARGE: ("No VAT", "T9"),
    VatCode.OUTSIDE_SCOPE: ("No VAT", "T9"),
    VatCode.CONSUMER_COUNTRY: ("", ""),
}

_UK_CATEGORY_CODES = {
    VatCategory.STANDARD: VatCode.STANDARD,
    VatCategory.REDUCED: VatCode.REDUCED,
    VatCategory.ZERO: VatCode.ZERO,
    VatCategory.EXEMPT: VatCode.EXEMPT,
}
_RULE_CODES = {
    "reverse_charge": VatCode.REVERSE_CHARGE,
    "outside_scope": VatCode.OUTSIDE_SCOPE,
    "consumer_country_rate": VatCode.CONSUMER_COUNTRY,
}
# Codes whose VAT is UK VAT, and so counts in box 1 of the VAT return.
UK_VAT_CODES = frozenset({VatCode.STANDARD, VatCode.REDUCED, VatCode.ZERO, VatCode.EXEMPT})


class ExportError(ValueError):
    """The export cannot be written: the message names the record and the field."""


def vat_code(vat_rule: str, vat_category: str) -> str:
    """Our VAT code for a line: from the document's VAT rule (billing.vat) and the line's category."""
    if vat_rule in _RULE_CODES:
        return _RULE_CODES[vat_rule]
    return _UK_CATEGORY_CODES.get(vat_category, VatCode.STANDARD)


@dataclass(frozen=True)
class Codes:
    """Everything the writers need from the settings, read once per export."""

    settings: AccountingSettings
    xero: dict[str, str]
    sage: dict[str, str]
    references: dict[int, str]

    @classmethod
    def load(cls) -> Codes:
        xero = {code: xero for code, (xero, _) in DEFAULT_TAX_CODES.items()}
        sage = {code: sage for code, (_, sage) in DEFAULT_TAX_CODES.items()}
        if AccountingTaxCode.objects.exists():
            xero, sage = {}, {}
            for row in AccountingTaxCode.objects.all():
                xero[row.vat_code], sage[row.vat_code] = row.xero_tax_type.strip(), row.sage_tax_code.strip()
        references = dict(CustomerAccountReference.objects.values_list("customer_id", "reference"))
        return cls(AccountingSettings.current(), xero, sage, references)

    def reference(self, customer_id: int) -> str:
        """The customer's account reference: the one staff set, or the settings' format."""
        return self.references.get(customer_id) or self.settings.account_reference_format.format(id=customer_id)

    def xero_tax_type(self, code: str, record: str) -> str:
        name = self.xero.get(code, "")
        if not name:
            raise ExportError(
                f"{record}: field TaxType: VAT code {code} ({VatCode(code).label}) has no Xero tax rate. "
                "Set it in Billing → Accounting tax codes."
            )
        return name

    def sage_tax_code(self, code: str, record: str) -> str:
        tax = self.sage.get(code, "")
        if not tax:
            raise ExportError(
                f"{record}: field Tax Code: VAT code {code} ({VatCode(code).label}) has no Sage tax code. "
                "Set it in Billing → Accounting tax codes."
            )
        if not re.fullmatch(r"T\d{1,2}", tax):
            raise ExportError(f"{record}: field Tax Code: {tax!r} is not a Sage tax code (T0 to T99).")
        return tax

    def sage_reference(self, customer_id: int, record: str) -> str:
        reference = self.reference(customer_id)
        if len(reference) > 8:
            raise ExportError(
                f"{record}: field Account Reference: {reference!r} is longer than Sage's 8 characters. "
                "Set a shorter account reference for the customer (Billing → Customer account references)."
            )
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", reference):
            raise ExportError(
                f"{record}: field Account Reference: {reference!r} may only have letters, digits, - and _ in Sage."
            )
        return reference.upper()
