"""Postcodes and phone numbers are checked per country when a customer's details are saved,
with clear errors, and stored in their normal form (E.164 for phones); customers saved
before are reported, never silently changed."""

from __future__ import annotations

import html
import importlib
import re

import pytest
from django.urls import reverse

from accounts.models import Customer
from tests.accounts.factories import CustomerFactory

pytestmark = pytest.mark.django_db

FORM = {"registered_name": "Example Widgets Ltd", "trading_name": "", "company_number": "01234567", "vat_number": "",
        "address_line1": "2 New Road", "address_line2": "", "town": "Leeds", "county": "", "postcode": "LS1 1AA",
        "country": "GB", "phone": ""}  # fmt: skip


def _page_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"postcode": "NOT A POSTCODE!!"}, "'NOT A POSTCODE!!' is not a postcode in United Kingdom, e.g. EC1Y 8SY"),
        ({"postcode": ""}, "A postcode is required for an address in United Kingdom."),
        ({"country": "DE", "town": "Berlin", "postcode": "1011"}, "'1011' is not a postcode in Germany"),
        ({"phone": "call me maybe"}, "'call me maybe' is not a phone number: give it as it is dialled"),
    ],
)
def test_bad_postcodes_and_phone_numbers_are_refused_by_name_and_nothing_is_saved(
    owner_client, customer, changes, error
):
    before = Customer.objects.get(pk=customer.pk)

    response = owner_client.post(reverse("accounts:profile_edit"), {**FORM, **changes})

    assert response.status_code == 200
    assert error in _page_text(response)
    customer.refresh_from_db()
    assert (customer.postcode, customer.phone, customer.country) == (before.postcode, before.phone, before.country)


def test_postcodes_and_phones_are_stored_in_their_normal_form(owner_client, customer):
    response = owner_client.post(
        reverse("accounts:profile_edit"), {**FORM, "postcode": "ls14ap", "phone": "0113 496 0123"}
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.postcode, customer.phone) == ("LS1 4AP", "+441134960123")


def test_staff_get_the_same_checks_in_the_admin(customer, client):
    from tests.accounts.factories import UserFactory, enable_totp
    from tests.accounts.test_admin import _form_data

    staff = UserFactory(is_staff=True, is_superuser=True)
    enable_totp(staff)
    client.force_login(staff)
    admin_client_mfa = client

    url = reverse("admin:accounts_customer_change", args=[customer.pk])
    data = _form_data(admin_client_mfa.get(url))

    response = admin_client_mfa.post(url, {**data, "postcode": "NOT A POSTCODE!!", "phone": "call me maybe"})

    assert response.status_code == 200
    page = _page_text(response)
    assert "is not a postcode in United Kingdom" in page and "'call me maybe' is not a phone number" in page


def test_customers_saved_before_are_reported_and_left_as_they_are(capsys):
    from django.apps import apps

    bad = CustomerFactory()
    Customer.objects.filter(pk=bad.pk).update(postcode="NOT A POSTCODE!!", phone="call me maybe")
    good = CustomerFactory(phone="+441134960123")
    migration = importlib.import_module("accounts.migrations.0017_report_postcodes_and_phones_to_check")

    migration.report(apps, None)

    report = capsys.readouterr().out
    assert f"customer {bad.pk} ({bad.registered_name}): postcode 'NOT A POSTCODE!!' is not one of GB" in report
    assert "phone 'call me maybe' is not a phone number" in report
    assert f"customer {good.pk} " not in report
    assert Customer.objects.filter(pk=bad.pk, postcode="NOT A POSTCODE!!", phone="call me maybe").exists()


@pytest.mark.parametrize(
    ("address", "printed"),
    [
        ({"country": "DE", "address_line1": "Hauptstraße 1", "town": "Berlin", "postcode": "10115"},
         ["Hauptstraße 1", "10115 Berlin", "Germany"]),
        ({"country": "US", "address_line1": "1000 N West St", "town": "Wilmington", "county": "Delaware",
          "postcode": "19801"},
         ["1000 N West St", "Wilmington, DE 19801", "United States of America"]),
        ({"country": "GB", "address_line1": "2 New Road", "town": "Leeds", "postcode": "LS1 1AA"},
         ["2 New Road", "Leeds", "LS1 1AA"]),
    ],
)  # fmt: skip
def test_addresses_are_laid_out_as_the_countrys_post_expects_on_the_invoice_and_in_the_portal(
    owner_client, customer, provider, address, printed
):
    from billing.delivery.pdf import render_invoice_pdf
    from tests.billing.factories import issued_invoice
    from tests.billing.test_pdf import pdf_text

    assert owner_client.post(reverse("accounts:profile_edit"), {**FORM, **address}).status_code == 302
    customer.refresh_from_db()

    assert customer.postal_address_lines() == printed
    assert " ".join(printed) in pdf_text(render_invoice_pdf(issued_invoice(customer)))
    assert "<br>".join(printed) in owner_client.get(reverse("accounts:profile")).content.decode()


def test_a_us_address_without_its_state_is_refused_naming_it(owner_client, customer):
    us = {"country": "US", "address_line1": "1000 N West St", "town": "Wilmington", "postcode": "19801"}

    response = owner_client.post(reverse("accounts:profile_edit"), {**FORM, **us})

    assert response.status_code == 200
    assert "A state is required for an address in United States of America." in _page_text(response)
    assert Customer.objects.get(pk=customer.pk).country == "GB"
