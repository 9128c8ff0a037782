"""VAT registration numbers: GB and EU formats, validated with python-stdnum."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.gb import vat as gb_vat

# Northern Ireland traders use XI numbers with the GB format.
_PREFIXES = {"GB", "XI", "EL"} | {code.upper() for code in eu_vat.MEMBER_STATES}


def normalise_vat_number(value: str, *, country: str = "GB") -> str:
    """Return the number in its standard compact form with its country prefix.

    ``country`` is the customer's country, used when the number has no prefix.
    Raises ``ValidationError`` with a message naming what is wrong.
    """
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
