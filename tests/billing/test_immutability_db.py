"""The database itself refuses changes to issued documents (PostgreSQL triggers, migration 0006).

The model checks in ``Invoice.save``/``delete`` are bypassed by raw SQL and
``QuerySet.update()``; these tests go straight to SQL.
"""

from __future__ import annotations

import os

import pytest
from django.db import DatabaseError, connection, transaction

from billing.models import Invoice
from tests.billing.factories import InvoiceFactory, issued_invoice

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

MESSAGE = "issued documents are immutable: issue a credit note"


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI runs on PostgreSQL; this test must run there")
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")


def _sql(statement: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_changing_the_totals_of_an_issued_invoice_is_refused():
    invoice = issued_invoice()

    with pytest.raises(DatabaseError, match=MESSAGE):
        _sql("UPDATE billing_invoice SET total_net = total_net + 1 WHERE id = %s", [invoice.pk])

    invoice.refresh_from_db()
    assert str(invoice.total_net) == "10.00"


def test_queryset_update_of_an_issued_invoice_is_refused():
    invoice = issued_invoice()

    with pytest.raises(DatabaseError, match=MESSAGE), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(buyer={"registered_name": "Someone else"})


def test_status_and_pdf_of_an_issued_invoice_may_change():
    invoice = issued_invoice()

    _sql(
        "UPDATE billing_invoice SET status = 'paid', pdf = 'billing/pdf/x.pdf', pdf_sha256 = 'ab' WHERE id = %s",
        [invoice.pk],
    )

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.pdf_sha256 == "ab"


def test_an_issued_invoice_cannot_go_back_to_draft():
    invoice = issued_invoice()

    with pytest.raises(DatabaseError, match=MESSAGE):
        _sql("UPDATE billing_invoice SET status = 'draft' WHERE id = %s", [invoice.pk])


def test_deleting_an_issued_invoice_is_refused():
    invoice = issued_invoice()

    with pytest.raises(DatabaseError, match=MESSAGE):
        _sql("DELETE FROM billing_invoice WHERE id = %s", [invoice.pk])

    assert Invoice.objects.filter(pk=invoice.pk).exists()


def test_lines_of_an_issued_invoice_cannot_be_added_changed_or_deleted():
    invoice = issued_invoice()
    line = invoice.lines.get()

    with pytest.raises(DatabaseError, match=MESSAGE):
        _sql(
            "INSERT INTO billing_invoiceline"
            " (invoice_id, description, quantity, unit_price, vat_category, vat_rate, net)"
            " VALUES (%s, 'Extra', 1, 5, 'standard', 20, 5)",
            [invoice.pk],
        )
    with pytest.raises(DatabaseError, match=MESSAGE):
        _sql("UPDATE billing_invoiceline SET net = 0 WHERE id = %s", [line.pk])
    with pytest.raises(DatabaseError, match=MESSAGE):
        _sql("DELETE FROM billing_invoiceline WHERE id = %s", [line.pk])

    assert invoice.lines.count() == 1


def test_drafts_and_their_lines_stay_editable():
    draft = InvoiceFactory()

    _sql(
        "INSERT INTO billing_invoiceline (invoice_id, description, quantity, unit_price, vat_category, vat_rate, net)"
        " VALUES (%s, 'Extra', 1, 5, 'standard', 20, 5)",
        [draft.pk],
    )
    _sql("UPDATE billing_invoice SET total_net = 5 WHERE id = %s", [draft.pk])
    _sql("DELETE FROM billing_invoiceline WHERE invoice_id = %s", [draft.pk])
    _sql("DELETE FROM billing_invoice WHERE id = %s", [draft.pk])

    assert not Invoice.objects.filter(pk=draft.pk).exists()


def test_the_line_trigger_plans_its_invoice_look_up_per_call():
    # A plan cached while the invoice table was small would be a sequential scan for the
    # rest of the session: a billing run's session reads every invoice per line (migration 0020).
    with connection.cursor() as cursor:
        cursor.execute("SELECT proconfig FROM pg_proc WHERE proname = 'billing_invoiceline_immutable'")
        (config,) = cursor.fetchone()

    assert "plan_cache_mode=force_custom_plan" in config


def test_a_stored_pdf_cannot_be_replaced_or_cleared_by_sql():
    from billing.delivery.pdf import store_invoice_pdf
    from tests.accounts.factories import CustomerFactory
    from tests.billing.factories import configured_provider

    configured_provider()
    invoice = store_invoice_pdf(issued_invoice(CustomerFactory()))
    for change in ({"pdf": "billing/pdf/other.pdf"}, {"pdf": "", "pdf_sha256": ""}, {"pdf_sha256": "0" * 64}):
        with pytest.raises(DatabaseError, match="is set once"), transaction.atomic():
            Invoice.objects.filter(pk=invoice.pk).update(**change)
    assert Invoice.objects.values_list("pdf", flat=True).get(pk=invoice.pk) == invoice.pdf.name
