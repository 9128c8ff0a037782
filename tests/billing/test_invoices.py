"""Issuing invoices, credit notes and pro-forma requests (VAT Regulations 1995 regs 14 and 15)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.audit import System
from billing.documents.periods import prorate
from billing.documents.totals import compute_totals
from billing.issuing import add_line, issue_invoice
from billing.models import BillingSettings, Invoice, InvoiceLine, NumberSeries
from billing.money import vat_down
from billing.vat import REVERSE_CHARGE_WORDING, VatRuleError
from billing.workflows.settlement import credit_invoice
from tests.accounts.factories import CustomerFactory, UserFactory, enable_totp
from tests.billing.factories import InvoiceFactory, InvoiceLineFactory, issued_invoice

ISSUE_DAY = dt.date(2026, 3, 10)


def _draft(customer=None, **fields) -> Invoice:
    invoice = InvoiceFactory(customer=customer or CustomerFactory(), **fields)
    add_line(invoice, description="VPS March", quantity=1, unit_price="25.00", vat_rate=20)
    add_line(invoice, description="Backup", quantity="2", unit_price="3.33", vat_rate=20)
    return invoice


def test_issue_numbers_invoices_in_sequence(provider):
    first = issue_invoice(_draft(), issued_on=ISSUE_DAY, actor=System("tests"))
    second = issue_invoice(_draft(), issued_on=ISSUE_DAY, actor=System("tests"))

    assert (first.number, second.number) == ("INV-2026-000001", "INV-2026-000002")
    assert first.status == Invoice.Status.ISSUED
    assert first.tax_point == first.issued_on == ISSUE_DAY  # reg 90: the invoice is the tax point
    assert first.due_on == ISSUE_DAY + dt.timedelta(days=BillingSettings.current().payment_terms_days)
    assert (first.total_net, first.total_vat, first.total_gross) == (
        Decimal("31.66"),
        Decimal("6.33"),
        Decimal("37.99"),
    )


def test_seller_and_buyer_are_copied_and_survive_later_changes(provider):
    customer = CustomerFactory(address_line1="1 Old Road", vat_number="GB980780684")
    invoice = issue_invoice(_draft(customer), issued_on=ISSUE_DAY, actor=System("tests"))

    customer.address_line1 = "99 New Street"
    customer.save()
    provider.registered_office = "2 Moved Lane\nElsewhere"
    provider.save()

    invoice.refresh_from_db()
    assert invoice.buyer["address"][0] == "1 Old Road"
    assert invoice.buyer["registered_name"] == customer.registered_name
    assert invoice.buyer["vat_number"] == "GB980780684"
    assert invoice.buyer["legal_form"] == customer.legal_form
    assert invoice.seller["registered_office"] == ["1 Example Street", "Exampletown", "EX1 1AA"]
    assert invoice.seller["vat_number"] == "GB980780684"
    assert invoice.seller["company_number"] == "01234567"
    assert invoice.seller["registered_in"] == "England and Wales"


def test_issued_invoice_refuses_changes_and_deletion_in_the_model(provider):
    invoice = issued_invoice()

    invoice.total_net = Decimal("1.00")
    with pytest.raises(ValidationError):
        invoice.save()
    with pytest.raises(ValidationError):
        invoice.delete()
    with pytest.raises(ValidationError):
        InvoiceLineFactory(invoice=invoice)
    with pytest.raises(ValidationError):
        add_line(invoice, description="Extra", quantity=1, unit_price="1.00", vat_rate=20)
    with pytest.raises(ValidationError):
        issue_invoice(invoice, actor=System("tests"))  # twice
    invoice.refresh_from_db()
    assert invoice.total_net == Decimal("10.00")
    assert invoice.lines.count() == 1


def test_a_stale_or_edited_copy_cannot_undo_an_issued_document(provider):
    draft = InvoiceFactory()
    add_line(draft, description="Hosting", quantity=1, unit_price="10.00", vat_rate=20)
    stale = Invoice.objects.get(pk=draft.pk)  # read before it was issued
    issue_invoice(draft, actor=System("tests"))
    line = draft.lines.get()

    with pytest.raises(ValidationError):
        stale.save()  # would write the draft back over the issued document
    with pytest.raises(ValidationError):
        stale.delete()
    back = Invoice.objects.get(pk=draft.pk)
    back.status = Invoice.Status.DRAFT
    with pytest.raises(ValidationError, match="cannot go back to draft"):
        back.save(update_fields=["status"])
    with pytest.raises(ValidationError):
        line.delete()
    line.invoice = InvoiceFactory(customer=draft.customer)  # moving it out is changing it too
    with pytest.raises(ValidationError):
        line.save()

    issued = Invoice.objects.get(pk=draft.pk)
    assert issued.status == Invoice.Status.ISSUED and issued.number
    assert list(issued.lines.values_list("pk", flat=True)) == [line.pk]


@pytest.fixture
def admin_client(db) -> Client:
    superuser = UserFactory(is_staff=True, is_superuser=True)
    enable_totp(superuser)
    client = Client()
    client.force_login(superuser)
    return client


def test_admin_shows_issued_invoice_read_only_and_ignores_posts(provider, admin_client):
    invoice = issued_invoice()
    url = reverse("admin:billing_invoice_change", args=[invoice.pk])

    page = admin_client.get(url)
    assert page.status_code == 200
    assert b'name="currency"' not in page.content  # no editable inputs
    assert b'name="_save"' not in page.content

    response = admin_client.post(
        url,
        {"currency": "EUR", "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "1", "lines-0-unit_price": "1"},
    )
    assert response.status_code in (302, 403)
    invoice.refresh_from_db()
    assert invoice.currency == "GBP"
    assert invoice.lines.get().unit_price == Decimal("10.00")

    delete = admin_client.post(reverse("admin:billing_invoice_delete", args=[invoice.pk]), {"post": "yes"})
    assert delete.status_code == 403
    assert Invoice.objects.filter(pk=invoice.pk).exists()


def test_admin_action_issues_drafts_and_credits_in_full(provider, admin_client):
    draft = _draft()
    changelist = reverse("admin:billing_invoice_changelist")

    admin_client.post(changelist, {"action": "issue_selected", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.ISSUED
    assert draft.number.endswith("-000001") and draft.number.startswith("INV-")

    form = admin_client.post(changelist, {"action": "credit_in_full", "_selected_action": [draft.pk]})
    assert b"reason" in form.content
    admin_client.post(
        changelist,
        {"action": "credit_in_full", "_selected_action": [draft.pk], "apply": "1", "reason": "Ordered in error"},
    )
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.CANCELLED
    assert draft.corrections.get().number.startswith("CN-")


line_strategy = st.tuples(
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1000"), places=3),
    st.decimals(min_value=Decimal("0.00"), max_value=Decimal("99999.99"), places=2),
    st.sampled_from([Decimal("20"), Decimal("5"), Decimal("0"), Decimal("17.5")]),
)


@pytest.mark.django_db
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line_strategy, min_size=1, max_size=8))
def test_totals_are_the_sum_of_lines_with_vat_per_rate_rounded_down(lines):
    invoice = InvoiceFactory()
    for quantity, unit_price, rate in lines:
        add_line(invoice, description="x", quantity=quantity, unit_price=unit_price, vat_rate=rate)

    summary = compute_totals(invoice)

    stored = list(InvoiceLine.objects.filter(invoice=invoice))
    assert invoice.total_net == sum(line.net for line in stored)
    by_rate: dict[Decimal, Decimal] = {}
    for line in stored:
        by_rate[line.vat_rate] = by_rate.get(line.vat_rate, Decimal(0)) + line.net
    # VAT Notice 700 s.17.5: the total VAT is the exact VAT rounded down to the penny, and
    # the summary per rate adds up to it, each rate within a penny of its exact VAT.
    assert invoice.total_vat == vat_down(sum(net * rate / 100 for rate, net in by_rate.items()))
    assert sum(vat for _, _, vat in summary) == invoice.total_vat
    for rate, net, vat in summary:
        assert abs(vat - net * rate / 100) < Decimal("0.01")
    assert invoice.total_gross == invoice.total_net + invoice.total_vat
    assert all(isinstance(value, Decimal) for row in summary for value in row)
    assert not any(isinstance(v, float) for v in (invoice.total_net, invoice.total_vat, invoice.total_gross))


def test_reverse_charge_customer_gets_zero_rate_and_the_wording(provider):
    customer = CustomerFactory(country="DE", vat_number="DE136695976", postcode="10115", town="Berlin")
    invoice = issue_invoice(_draft(customer), issued_on=ISSUE_DAY, actor=System("tests"))

    assert invoice.vat_rule == "reverse_charge"
    assert invoice.vat_wording == REVERSE_CHARGE_WORDING
    assert set(invoice.lines.values_list("vat_rate", flat=True)) == {Decimal("0")}
    assert invoice.total_vat == Decimal("0.00")
    assert invoice.buyer["address"][-1] == "Germany"


def test_consumer_abroad_without_a_rate_in_the_table_is_refused_and_nothing_changes(provider):
    consumer = CustomerFactory(legal_form="individual", company_number="", country="NO", town="Oslo", postcode="0150")
    draft = _draft(consumer)

    with pytest.raises(VatRuleError, match=r"consumers in Norway \(NO\): add the rate for NO in the admin"):
        issue_invoice(draft, issued_on=ISSUE_DAY, actor=System("tests"))

    draft.refresh_from_db()
    assert draft.status == Invoice.Status.DRAFT and draft.number is None and draft.seller == {}
    assert not NumberSeries.objects.filter(code="INV", next_number__gt=1).exists()
    assert issue_invoice(_draft(), issued_on=ISSUE_DAY, actor=System("tests")).number == "INV-2026-000001"


def test_full_credit_note_has_its_own_series_and_cancels_the_original(provider):
    original = issued_invoice(lines=(("VPS", 1, "50.00"), ("IP", 2, "2.50")), issued_on=ISSUE_DAY)

    note = credit_invoice(original, reason="Ordered in error", actor=System("tests"), issued_on=ISSUE_DAY)

    assert note.number == "CN-2026-000001"
    assert note.kind == Invoice.Kind.CREDIT_NOTE and note.status == Invoice.Status.ISSUED
    assert note.corrects == original
    assert (note.total_net, note.total_vat, note.total_gross) == (
        original.total_net,
        original.total_vat,
        original.total_gross,
    )
    assert note.total_gross > 0  # positive amounts; the kind makes it a credit
    assert note.due_on is None
    original.refresh_from_db()
    assert original.status == Invoice.Status.CANCELLED
    assert original.number == "INV-2026-000001"  # the number stays used
    with pytest.raises(ValidationError):
        credit_invoice(original, reason="again", actor=System("tests"))


def test_partial_credit_note_leaves_the_original_issued(provider):
    original = issued_invoice(lines=(("VPS", 1, "50.00"),))
    note = credit_invoice(
        original,
        lines=[{"description": "Downtime", "quantity": 1, "unit_price": "5.00", "vat_rate": 20}],
        reason="SLA credit",
        actor=System("tests"),
    )
    assert note.total_gross == Decimal("6.00")
    original.refresh_from_db()
    assert original.status == Invoice.Status.ISSUED


def test_pro_forma_has_no_tax_point_and_its_own_series(provider):
    request = issue_invoice(_draft(kind=Invoice.Kind.PRO_FORMA), issued_on=ISSUE_DAY, actor=System("tests"))

    assert request.number == "PR-2026-000001"
    assert request.tax_point is None  # HMRC VATTOS9165: "This is not a VAT invoice"
    assert request.issued_on == ISSUE_DAY


def test_foreign_currency_needs_a_sterling_rate(provider):
    draft = _draft(currency="EUR")

    with pytest.raises(ValidationError, match="gbp_rate, gbp_rate_source, gbp_rate_date"):
        issue_invoice(draft, issued_on=ISSUE_DAY, actor=System("tests"))
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.DRAFT and draft.number is None


def test_foreign_currency_invoice_shows_sterling_totals(provider):
    draft = _draft(
        currency="EUR",
        gbp_rate=Decimal("0.850000"),
        gbp_rate_source="HMRC monthly exchange rate",
        gbp_rate_date=dt.date(2026, 3, 1),
    )
    invoice = issue_invoice(draft, issued_on=ISSUE_DAY, actor=System("tests"))

    assert invoice.total_net == Decimal("31.66")
    assert invoice.total_net_gbp == Decimal("26.91")  # 31.66 × 0.85 = 26.911
    assert invoice.total_vat_gbp == Decimal("5.38")  # 20% of 26.91, rounded down
    invoice.refresh_from_db()
    assert invoice.total_vat_gbp == Decimal("5.38")


@pytest.mark.parametrize(
    ("period", "active_from", "active_to", "expected"),
    [
        ((dt.date(2026, 3, 1), dt.date(2026, 3, 31)), dt.date(2026, 3, 1), None, "31.00"),
        ((dt.date(2026, 3, 1), dt.date(2026, 3, 31)), dt.date(2026, 3, 17), None, "15.00"),  # 15/31
        ((dt.date(2026, 2, 1), dt.date(2026, 2, 28)), dt.date(2026, 2, 15), None, "15.50"),  # 14/28 of 31
        ((dt.date(2028, 2, 1), dt.date(2028, 2, 29)), dt.date(2028, 2, 15), None, "16.03"),  # 15/29 leap Feb
        ((dt.date(2026, 3, 1), dt.date(2026, 3, 31)), dt.date(2026, 1, 1), dt.date(2026, 3, 10), "10.00"),
        ((dt.date(2026, 3, 1), dt.date(2026, 3, 31)), dt.date(2026, 4, 1), None, "0.00"),
    ],
)
def test_proration_is_daily_over_the_periods_actual_days(period, active_from, active_to, expected):
    assert prorate(Decimal("31.00"), *period, active_from, active_to) == Decimal(expected)
