"""Late-payment charges on an invoice in another currency: interest in the invoice's
currency, the fixed sum banded by the debt's sterling equivalent at the invoice's recorded
rate and claimed converted at that rate, on a claim in the invoice's currency
(docs/collections.md). Worked by hand at 8% + 3.75% = 11.75%."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts.models import Membership
from billing.collections.charges import accrued, charge_late_payment
from billing.collections.models import LatePaymentCharge
from billing.delivery.pdf import stored_pdf_bytes
from tests.accounts.factories import StaffFactory
from tests.billing.collections.helpers import charges_on, customer, invoice_due, pdftotext

D = dt.date
pytestmark = pytest.mark.django_db
RATE = {"currency": "EUR", "gbp_rate": Decimal("0.867500"), "gbp_rate_source": "HMRC", "gbp_rate_date": D(2026, 8, 1)}


def at(day: dt.date):
    return time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC), tick=False)


def test_interest_in_euros_and_the_sterling_band_converted_at_the_invoices_rate(
    provider, django_capture_on_commit_callbacks
):
    charges_on()
    company = customer(currency="EUR")
    # €1,000 + 20% VAT = €1,200, due 1 September 2026 (reference day 30 June 2026: 3.75%).
    invoice = invoice_due(company, D(2026, 9, 1), amount="1000.00", **RATE)

    found = accrued(invoice, today=D(2026, 10, 1))
    # 2 Sep–1 Oct = 30 days: 1,200 × 0.1175 × 30 / 365 = 11.589 → €11.59.
    assert (found.interest.days, found.interest.amount, found.interest.currency) == (30, Decimal("11.59"), "EUR")
    # €1,200 × 0.8675 = £1,041.00: the £70 band (£1,000 to £9,999.99); £70 / 0.8675 = 80.692 → €80.69.
    assert (found.debt_gbp, found.compensation_gbp, found.compensation) == (
        Decimal("1041.00"),
        Decimal("70.00"),
        Decimal("80.69"),
    )
    assert found.total == Decimal("92.28")

    with at(D(2026, 10, 1)), django_capture_on_commit_callbacks(execute=True):
        claim = charge_late_payment(company, actor=StaffFactory())

    assert (claim.currency, claim.total_vat, claim.total_gross) == ("EUR", Decimal("0.00"), Decimal("92.28"))
    charge = LatePaymentCharge.objects.get(claim=claim)
    assert (charge.interest, charge.compensation) == (Decimal("11.59"), Decimal("80.69"))
    assert claim.lines.get(unit_price=Decimal("80.69")).description == (
        f"Fixed-sum compensation on {invoice.number} (s.5A of the Act): £70.00 for a debt of €1,200.00 = "
        "£1,041.00 at the invoice's rate of £0.8675 per EUR, converted at that rate"
    )
    claim.refresh_from_db()
    text = pdftotext(stored_pdf_bytes(claim))
    for element in (f"Statutory interest on {invoice.number}", "£70.00", "£1,041.00", "£0.8675 per EUR", "€92.28"):
        assert element in text, element


def test_the_band_follows_the_sterling_equivalent_not_the_foreign_amount(provider):
    charges_on()
    company = customer(currency="EUR")
    # €960 + 20% = €1,152, over 1,000 in euros but £999.36 in pounds: the £40 band; £40 / 0.8675 = €46.11.
    invoice = invoice_due(company, D(2026, 9, 1), amount="960.00", **RATE)

    found = accrued(invoice, today=D(2026, 10, 1))

    assert (found.debt_gbp, found.compensation_gbp, found.compensation) == (
        Decimal("999.36"),
        Decimal("40.00"),
        Decimal("46.11"),
    )


def test_an_invoice_in_another_currency_without_a_rate_is_refused_with_the_reason(provider):
    charges_on()
    # A business in Germany: reverse charge, no UK VAT, so the invoice need not record a sterling rate.
    company = customer(currency="EUR", country="DE", vat_number="DE136695976", postcode="10115", town="Berlin")
    invoice = invoice_due(company, D(2026, 9, 1), amount="1000.00", currency="EUR")
    assert invoice.gbp_rate is None

    found = accrued(invoice, today=D(2026, 10, 1))

    assert found.total == 0 and "records no exchange rate to sterling" in found.why_not
    with pytest.raises(ValidationError, match=f"{invoice.number}: .*records no exchange rate to sterling"):
        charge_late_payment(company, actor=StaffFactory(), today=D(2026, 10, 1))
    assert not LatePaymentCharge.objects.exists()


def test_the_customer_sees_the_compensation_in_pounds_and_in_their_currency(provider):
    charges_on()
    company = customer(currency="EUR")
    invoice = invoice_due(company, D(2026, 9, 1), amount="1000.00", **RATE)
    client = Client()
    client.force_login(Membership.objects.filter(customer=company).first().user)

    with at(D(2026, 10, 1)):
        page = client.get(reverse("billing:invoice_detail", args=[invoice.pk])).content.decode()

    assert "€11.59 so far" in page
    assert "Fixed-sum compensation of £70.00 (€80.69 at the invoice&#x27;s exchange rate)" in page
