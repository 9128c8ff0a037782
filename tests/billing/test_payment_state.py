"""A document's PDF, page and email show what is actually due: a settled document says
Paid, with the date and reference of the payment, and asks for nothing; a part-paid one
shows what was paid so far and the balance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import BytesIO
from unittest import mock

import pytest
from django.urls import reverse
from pypdf import PdfReader

from accounts import roles
from accounts.audit import System
from accounts.correspondence.models import Message
from billing.delivery.pdf import render_invoice_pdf
from billing.models import Invoice
from billing.tasks import render_and_send_invoice
from billing.workflows.run import run_billing
from billing.workflows.settlement import receive_payment
from tests.accounts.factories import MembershipFactory, ServiceFactory
from tests.billing.factories import BillingSettingsFactory, PlanFactory, SubscriptionFactory, issued_invoice

NOVEMBER = dt.date(2026, 11, 1)
PAID_ON = dt.date(2026, 11, 25)


def pdf_text(content: bytes) -> str:
    return " ".join("\n".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages).split())


def page_text(response) -> str:
    import re

    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.fixture
def paid_request(owner, customer, provider):
    """Pro-forma mode: the run sends a payment request, paid in full on 25 November."""
    BillingSettingsFactory(pro_forma_mode=True, bank_account_name="Example Hosting Ltd",
                           bank_sort_code="12-34-56", bank_account_number="12345678")  # fmt: skip
    SubscriptionFactory(service=ServiceFactory(customer=customer), plan=PlanFactory(price="28.32"))
    with mock.patch("billing.workflows.run.timezone.localdate", return_value=NOVEMBER):
        run_billing(NOVEMBER, actor=System("tests"))
    request = Invoice.objects.get(customer=customer, kind=Invoice.Kind.PRO_FORMA)
    receive_payment(customer, amount=request.total_gross, received_on=PAID_ON, method="bank_transfer",
                    reference="BACS 2511-ACME", allocate_to=[(request, request.total_gross)],
                    actor=System("tests"))  # fmt: skip
    return request


def test_the_vat_invoice_for_a_paid_request_says_paid_with_date_and_reference_in_pdf_page_and_email(
    paid_request, customer, owner_client, django_capture_on_commit_callbacks
):
    invoice = Invoice.objects.get(settles=paid_request)
    assert invoice.total_gross == paid_request.total_gross == Decimal("33.98")

    text = pdf_text(render_invoice_pdf(invoice))
    assert "Paid 25 November 2026" in text
    assert "£33.98 received on 25 November 2026 by bank transfer, reference BACS 2511-ACME" in text
    assert "Balance due £0.00" in text
    assert "Total due" not in text and "Please pay" not in text and "How to pay" not in text

    page = page_text(owner_client.get(reverse("billing:invoice_detail", args=[invoice.pk])))
    assert "Paid 25 November 2026" in page
    assert "£33.98 received on 25 November 2026 by bank transfer, reference BACS 2511-ACME" in page
    assert "Please pay" not in page

    with django_capture_on_commit_callbacks(execute=True):
        render_and_send_invoice(invoice.pk)
    body = Message.objects.get(idempotency_key=f"invoice:{invoice.pk}").body_text
    assert "Paid: £33.98, in full, on 25 November 2026" in body
    assert "reference BACS 2511-ACME" in body
    assert "Amount due" not in body and "How to pay" not in body


def test_the_paid_request_itself_names_its_payment_and_the_vat_invoice_issued_for_it(paid_request, owner_client):
    invoice = Invoice.objects.get(settles=paid_request)

    page = page_text(owner_client.get(reverse("billing:invoice_detail", args=[paid_request.pk])))

    assert "reference BACS 2511-ACME" in page
    assert f"VAT invoice {invoice.number} was issued for this payment" in page
    assert "Balance due £0.00" in page and "Please pay" not in page


def test_a_part_paid_invoice_shows_paid_so_far_and_the_balance(customer, owner_client, provider):
    BillingSettingsFactory(bank_account_name="Example Hosting Ltd", bank_sort_code="12-34-56",
                           bank_account_number="12345678")  # fmt: skip
    MembershipFactory(customer=customer, role=roles.Role.BILLING)
    invoice = issued_invoice(customer, lines=[("VPS hosting", 1, "50.00")], issued_on=dt.date(2026, 3, 2))
    receive_payment(customer, amount="20.00", received_on=dt.date(2026, 3, 5), method="bank_transfer",
                    reference="FIRST PART", allocate_to=[(invoice, "20.00")], actor=System("tests"))  # fmt: skip

    text = pdf_text(render_invoice_pdf(invoice))
    assert "Total £60.00" in text and "Paid so far £20.00" in text and "Balance due £40.00" in text
    assert "Please pay £40.00 by 1 April 2026" in text
    assert "£20.00 received on 5 March 2026 by bank transfer, reference FIRST PART" in text

    page = page_text(owner_client.get(reverse("billing:invoice_detail", args=[invoice.pk])))
    assert "Paid so far £20.00" in page and "Balance due £40.00" in page
    assert "Please pay £40.00 by 1 April 2026" in page

    render_and_send_invoice(invoice.pk)
    body = Message.objects.get(idempotency_key=f"invoice:{invoice.pk}").body_text
    assert "Paid so far: £20.00" in body and "Balance due: £40.00" in body
    assert "Amount due" not in body
