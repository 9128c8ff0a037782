"""Business customers outside the UK are outside the scope of UK VAT, by their recorded
business status; foreign VAT charged to a consumer is labelled as that country's VAT."""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Customer, LegalForm
from billing.delivery.pdf import render_invoice_pdf
from billing.models import VatRate
from tests.accounts.factories import CustomerFactory
from tests.billing.factories import issued_invoice
from tests.billing.test_pdf import pdf_text

pytestmark = pytest.mark.django_db

ISSUED = dt.date(2026, 3, 2)


def _page_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def test_a_us_company_without_a_tax_number_is_outside_the_scope_and_the_invoice_says_so(provider, settings):
    # A consumer rate there must not be used for a business.
    VatRate.objects.create(country="US", valid_from=dt.date(2020, 1, 1), rate="10", source="test")
    customer = CustomerFactory(registered_name="Acme Corp", country="US", town="Wilmington", postcode="19801")

    invoice = issued_invoice(customer, lines=[("Dedicated server", 1, "100.00")], issued_on=ISSUED)

    assert (invoice.vat_rule, invoice.total_vat, invoice.total_gross) == ("outside_scope", 0, Decimal("100.00"))
    text = pdf_text(render_invoice_pdf(invoice))
    assert "Outside the scope of UK VAT: services supplied to a business customer belonging outside the UK" in text
    assert "Dedicated server 1 £100.00 Outside the scope £100.00" in text
    assert "0%" not in text and "Total VAT in sterling" not in text


def test_an_eu_business_without_a_vat_number_is_reverse_charged_by_its_legal_form(provider):
    customer = CustomerFactory(country="IE", vat_number="", legal_form=LegalForm.LIMITED_COMPANY)

    invoice = issued_invoice(customer, issued_on=ISSUED)

    assert invoice.vat_rule == "reverse_charge" and invoice.total_vat == 0
    text = pdf_text(render_invoice_pdf(invoice))
    assert "Reverse charge: the customer must account for any VAT due in their country." in text
    assert "Hosting 1 £10.00 Reverse charge £10.00" in text


@pytest.mark.parametrize(
    ("country", "given", "stored"),
    [("CH", "CHE-116.281.710", "CHE-116.281.710"), ("CH", "che116281710mwst", "CHE-116.281.710 MWST"),
     ("US", "042103594", "04-2103594"), ("NO", "974760673MVA", "NO 974 760 673 MVA")],
)  # fmt: skip
def test_owners_give_their_countrys_business_tax_identifier_and_it_is_printed_as_such(
    owner_client, customer, provider, country, given, stored
):
    postcode = {"CH": "8001", "US": "19801", "NO": "0150"}[country]
    county = "DE" if country == "US" else ""  # a US address needs its state
    form = {"registered_name": "Alpen Hosting AG", "trading_name": "", "company_number": "01234567",
            "address_line1": "Bahnhofstrasse 1", "address_line2": "", "town": "Zürich", "county": county,
            "postcode": postcode, "country": country, "phone": ""}  # fmt: skip

    response = owner_client.post(reverse("accounts:profile_edit"), {**form, "vat_number": given})

    assert response.status_code == 302, _page_text(response)
    customer.refresh_from_db()
    assert customer.vat_number == stored
    invoice = issued_invoice(customer, issued_on=ISSUED)
    assert invoice.vat_rule == "outside_scope"
    assert f"Customer tax number: {stored}" in pdf_text(render_invoice_pdf(invoice))


def test_a_wrong_foreign_tax_identifier_is_refused_naming_what_was_expected(owner_client, customer, provider):
    form = {"registered_name": "Alpen Hosting AG", "trading_name": "", "company_number": "01234567",
            "address_line1": "Bahnhofstrasse 1", "address_line2": "", "town": "Zürich", "county": "",
            "postcode": "8001", "country": "CH", "phone": ""}  # fmt: skip
    before = Customer.objects.get(pk=customer.pk)

    response = owner_client.post(reverse("accounts:profile_edit"), {**form, "vat_number": "CHE-116.281.711"})

    assert response.status_code == 200
    assert "'CHE-116.281.711' is not a valid" in _page_text(response) and "UID for CH" in _page_text(response)
    customer.refresh_from_db()
    assert (customer.country, customer.vat_number) == (before.country, before.vat_number)


def test_an_irish_consumers_vat_is_labelled_as_irish_vat_not_sterling_vat(provider, settings, owner_client, customer):
    Customer.objects.filter(pk=customer.pk).update(
        country="IE", legal_form=LegalForm.INDIVIDUAL, company_number="", vat_number=""
    )
    customer.refresh_from_db()

    invoice = issued_invoice(customer, lines=[("VPS hosting", 1, "10.00")], issued_on=ISSUED)

    assert invoice.vat_rule == "consumer_country_rate" and invoice.total_vat == Decimal("2.30")
    for text in (
        pdf_text(render_invoice_pdf(invoice)),
        _page_text(owner_client.get(reverse("billing:invoice_detail", args=[invoice.pk]))),
    ):
        assert "VAT rate Net VAT (Ireland) 23% £10.00 £2.30" in text
        assert "Total VAT (Ireland) £2.30" in text
        assert "sterling" not in text
