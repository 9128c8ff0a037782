"""Shared set-up for the collections tests: a customer with a billing contact and an invoice
issued on a chosen day, due 30 days later (the default payment terms)."""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
from decimal import Decimal

import time_machine

from accounts import roles
from accounts.correspondence.models import Message
from accounts.models import LegalForm
from billing.collections.models import CollectionsSettings
from tests.accounts.factories import CustomerFactory, MembershipFactory
from tests.billing.factories import issued_invoice


def customer(legal_form=LegalForm.LIMITED_COMPANY, **fields):
    found = CustomerFactory(legal_form=legal_form, **fields)
    MembershipFactory(customer=found, role=roles.Role.BILLING)
    return found


def invoice_due(customer, due_on: dt.date, amount="100.00", vat_rate=20, **fields):
    """An invoice issued 30 days before ``due_on``, for ``amount`` net (``fields``: its
    currency and exchange rate, say)."""
    issued_on = due_on - dt.timedelta(days=30)
    with time_machine.travel(dt.datetime.combine(issued_on, dt.time(9)), tick=False):
        return issued_invoice(
            customer, lines=(("Hosting", 1, amount),), vat_rate=vat_rate, issued_on=issued_on, **fields
        )


def charges_on():
    settings = CollectionsSettings.current()
    settings.late_payment_charges = True
    settings.save()


def mails(customer, template):
    return list(Message.objects.filter(customer=customer, template=template).order_by("created_at", "pk"))


ZERO = Decimal("0.00")


def pdftotext(content: bytes) -> str:
    """The PDF's text as pdftotext extracts it, whitespace collapsed."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as pdf:
        pdf.write(content)
        pdf.flush()
        out = subprocess.run(["pdftotext", "-layout", pdf.name, "-"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())
