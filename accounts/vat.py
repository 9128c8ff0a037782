"""VAT registration numbers and business tax identifiers, validated with python-stdnum.

A customer in the UK or the EU gives a UK or EU VAT number. A customer elsewhere gives the
business tax identifier python-stdnum validates for their country: its VAT or GST number
where it has one (a Swiss ``CHE-…``, a Norwegian ``MVA``), or its business number (a US
EIN, a Swiss UID).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.gb import vat as gb_vat
from stdnum.util import get_cc_module

# Northern Ireland traders use XI numbers with the GB format.
_PREFIXES = {"GB", "XI", "EL"} | {code.upper() for code in eu_vat.MEMBER_STATES}
# Countries whose customers give a UK or EU VAT number (Greece's prefix is EL).
_UK_AND_EU = {"GB", "IM", "GR"} | {code.upper() for code in eu_vat.MEMBER_STATES}
# python-stdnum's modules for a country's business tax identifiers, tried in this order.
_TAX_ID_MODULES = ("vat", "uid", "ein", "bn", "abn", "orgnr", "uen")


def business_tax_id(value: str, country: str) -> str | None:
    """``value`` as the business tax identifier of ``country`` (outside the UK and EU) it is,
    in its usual printed form; None if python-stdnum validates no such identifier."""
    for name in _TAX_ID_MODULES:
        module = get_cc_module(country.lower(), name)
        if module is None:
            continue
        try:
            number = module.validate(value)
        except StdnumError:
            continue
        return module.format(number) if hasattr(module, "format") else number
    return None


def _tax_id_names(country: str) -> str:
    names = [
        (module.__doc__ or name).splitlines()[0].split(" (")[0].strip().rstrip(".")
        for name in _TAX_ID_MODULES
        if (module := get_cc_module(country.lower(), name)) is not None
    ]
    return " or ".join(names)


def normalise_vat_number(value: str, *, country: str = "GB") -> str:
    """Return the number in its standard compact form with its country prefix.

    ``country`` is the customer's country, used when the number has no prefix.
    Raises ``ValidationError`` with a message naming what is wrong.
    """
    country = (country or "GB").upper()
    if country not in _UK_AND_EU:
        number = business_tax_id(value.strip(), country)
        if number is not None:
            return number
        if value.strip().upper()[:2] not in _PREFIXES:
            names = _tax_id_names(country)
            if not names:
                raise ValidationError(
                    f"{value!r} cannot be checked: python-stdnum validates no business tax identifier for "
                    f"{country}, so leave it empty (the legal form says the customer is in business)."
                )
            raise ValidationError(f"{value!r} is not a valid {names} for {country}.")
    raw = value.strip().upper().replace(" ", "").replace("-", "").replace(".", "")
    prefix = raw[:2] if raw[:2].isalpha() else ""
    if not prefix:
        prefix = "EL" if country == "GR" else country.upper()
        raw = prefix + raw
    if prefix not in _PREFIXES:
        raise ValidationError(f"{value!r} is not a UK or EU VAT number: {prefix!r} is not a UK or EU VAT prefix.")
    try:
        if prefix in ("GB", "XI"):
            return prefix + gb_vat.validate(raw[2:])
        return eu_vat.validate(raw)
    except InvalidChecksum:
        raise ValidationError(f"{value!r} is not a valid VAT number: its check digits are wrong.") from None
    except InvalidLength:
        raise ValidationError(f"{value!r} is not a valid VAT number: it has the wrong number of characters.") from None
    except (InvalidFormat, InvalidComponent):
        raise ValidationError(f"{value!r} is not a valid VAT number: it is not in the {prefix} format.") from None
    except StdnumError as exc:
        raise ValidationError(f"{value!r} is not a valid VAT number: {exc}.") from None
