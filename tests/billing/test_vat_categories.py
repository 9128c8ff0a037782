"""VAT per line category, and tax points other than the date of issue (VAT reg 90)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.audit import System
from billing.documents.totals import InvoiceError, vat_summary
from billing.issuing import add_line, issue_invoice
from billing.models import Invoice, NumberSeries, VatRate
from billing.vat import VatRuleError
from billing.workflows.settlement import credit_invoice
from tests.accounts.factories import CustomerFactory
from tests.billing.factories import InvoiceFactory, PlanFactory

pytestmark = pytest.mark.django_db

ISSUE_DAY = dt.date(2026, 3, 10)


def _draft(customer, **fields) -> Invoice:
    invoice = InvoiceFactory(customer=customer, **fields)
    add_line(invoice, description="Hosting", quantity=1, unit_price="100.00")
    add_line(invoice, description="Printed manual", quantity=1, unit_price="10.00", vat_category="reduced")
    add_line(invoice, description="Domain transfer fee", quantity=1, unit_price="5.00", vat_category="exempt")
    return invoice


def _rates(invoice) -> dict[str, Decimal]:
    return dict(invoice.lines.values_list("description", "vat_rate"))


def test_uk_customer_lines_take_the_uk_rate_of_their_category(provider):
    invoice = issue_invoice(_draft(CustomerFactory(country="GB")), issued_on=ISSUE_DAY, actor=System("tests"))

    assert _rates(invoice) == {"Hosting": 20, "Printed manual": 5, "Domain transfer fee": 0}
    assert vat_summary(invoice) == [
        (Decimal("20"), Decimal("100.00"), Decimal("20.00")),
        (Decimal("5"), Decimal("10.00"), Decimal("0.50")),
        (Decimal("0"), Decimal("5.00"), Decimal("0.00")),
    ]
    assert invoice.total_gross == Decimal("135.50")


def test_the_rate_is_the_one_in_force_on_the_tax_point(provider):
    invoice = issue_invoice(
        _draft(CustomerFactory(country="GB")), issued_on=dt.date(2010, 12, 31), actor=System("tests")
    )
    assert _rates(invoice)["Hosting"] == Decimal("17.5")


def _french_rate(category: str, rate: str, valid_from: dt.date = dt.date(2021, 7, 1)) -> VatRate:
    return VatRate.objects.create(country="FR", category=category, valid_from=valid_from, rate=rate, source="test")


def test_overseas_consumer_lines_take_their_countrys_rate_per_category(provider):
    _french_rate("reduced", "5.5")
    _french_rate("exempt", "0")
    consumer = CustomerFactory(legal_form="individual", company_number="", country="FR", town="Paris")

    invoice = issue_invoice(_draft(consumer), issued_on=ISSUE_DAY, actor=System("tests"))

    assert invoice.vat_rule == "consumer_country_rate"
    assert _rates(invoice) == {"Hosting": 20, "Printed manual": Decimal("5.5"), "Domain transfer fee": 0}
    assert invoice.total_vat == Decimal("20.55")


def test_a_category_without_a_rate_in_force_is_refused_naming_it(provider):
    _french_rate("exempt", "0")
    _french_rate("reduced", "5.5", valid_from=ISSUE_DAY + dt.timedelta(days=1))  # not yet in force
    consumer = CustomerFactory(legal_form="individual", company_number="", country="FR", town="Paris")
    draft = _draft(consumer)

    with pytest.raises(
        VatRuleError,
        match=r"No VAT rate for the reduced category is in force on 10 March 2026 for consumers in France \(FR\): "
        r"add the rate for FR \(reduced\) in the admin",
    ):
        issue_invoice(draft, issued_on=ISSUE_DAY, actor=System("tests"))

    draft.refresh_from_db()
    assert draft.status == Invoice.Status.DRAFT and draft.number is None
    assert set(draft.lines.values_list("vat_rate", flat=True)) == {None}  # still to be decided
    assert not NumberSeries.objects.filter(code="INV", next_number__gt=1).exists()


def test_reverse_charge_puts_every_category_at_zero(provider):
    business = CustomerFactory(country="DE", vat_number="DE136695976", postcode="10115", town="Berlin")
    invoice = issue_invoice(_draft(business), issued_on=ISSUE_DAY, actor=System("tests"))
    assert set(_rates(invoice).values()) == {0}


def test_a_plans_category_reaches_the_invoice_line(provider):
    from billing.workflows.run import run_billing
    from tests.accounts.factories import ServiceFactory
    from tests.billing.factories import SubscriptionFactory

    customer = CustomerFactory(country="GB")
    plan = PlanFactory(vat_category="reduced", price=Decimal("10.00"), setup_fee=0)
    SubscriptionFactory(service=ServiceFactory(customer=customer), plan=plan, started_on=dt.date(2026, 1, 1))

    run_billing(dt.date(2026, 3, 1), actor=System("tests"))

    line = Invoice.objects.get(customer=customer).lines.get()
    assert (line.vat_category, line.vat_rate) == ("reduced", 5)


def test_credit_note_keeps_the_rates_the_original_charged(provider):
    original = issue_invoice(_draft(CustomerFactory(country="GB")), issued_on=ISSUE_DAY, actor=System("tests"))
    note = credit_invoice(original, reason="Ordered in error", issued_on=ISSUE_DAY, actor=System("tests"))
    assert _rates(note) == _rates(original)
    assert note.total_gross == original.total_gross


def test_unknown_category_is_refused_when_the_line_is_added(provider):
    with pytest.raises(InvoiceError, match="'luxury' is not a VAT category"):
        add_line(InvoiceFactory(), description="x", quantity=1, unit_price=1, vat_category="luxury")


def test_each_line_takes_the_rate_in_force_on_its_documents_tax_point(provider):
    """A rate changes on a date: documents with a tax point before it keep the old rate."""
    _french_rate("reduced", "5.5")
    _french_rate("exempt", "0")
    _french_rate("standard", "21", valid_from=dt.date(2026, 3, 11))
    VatRate.objects.create(country="GB", category="standard", valid_from=dt.date(2026, 3, 11), rate="22", source="t")
    consumer = CustomerFactory(legal_form="individual", company_number="", country="FR", town="Paris")
    uk = CustomerFactory(country="GB")

    before = [issue_invoice(_draft(who), issued_on=ISSUE_DAY, actor=System("tests")) for who in (consumer, uk)]
    earlier_tax_point = issue_invoice(
        _draft(uk), issued_on=dt.date(2026, 3, 12), tax_point=ISSUE_DAY, actor=System("tests")
    )
    after = [
        issue_invoice(_draft(who), issued_on=dt.date(2026, 3, 12), actor=System("tests")) for who in (consumer, uk)
    ]

    assert [_rates(invoice)["Hosting"] for invoice in before] == [20, 20]
    assert _rates(earlier_tax_point)["Hosting"] == 20
    assert [_rates(invoice)["Hosting"] for invoice in after] == [21, 22]
    assert _rates(after[1])["Printed manual"] == 5  # the other categories' rates are unchanged


def test_the_retired_rates_setting_is_reported_until_removed():
    from billing.checks import retired_vat_setting

    assert retired_vat_setting({}) == []
    [warning] = retired_vat_setting({"PORTAL_CONSUMER_VAT_RATES": "DE=19"})
    assert warning.id == "billing.W001" and "Billing → VAT rates" in warning.hint


# ---------------------------------------------------------------------------------------
# Tax point
# ---------------------------------------------------------------------------------------


def test_a_vat_invoice_may_carry_an_earlier_tax_point(provider):
    draft = _draft(CustomerFactory(country="GB"))
    invoice = issue_invoice(
        draft, issued_on=dt.date(2011, 1, 10), tax_point=dt.date(2010, 12, 20), actor=System("tests")
    )
    assert (invoice.issued_on, invoice.tax_point) == (dt.date(2011, 1, 10), dt.date(2010, 12, 20))
    # VAT at the rate in force on the tax point (17.5%), not on the date of issue (20%).
    assert _rates(invoice)["Hosting"] == Decimal("17.5")


def test_a_tax_point_after_the_date_of_issue_is_refused(provider):
    draft = _draft(CustomerFactory(country="GB"))
    with pytest.raises(InvoiceError, match="cannot be after the date of issue"):
        issue_invoice(draft, issued_on=ISSUE_DAY, tax_point=ISSUE_DAY + dt.timedelta(days=1), actor=System("tests"))
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.DRAFT


def test_only_vat_invoices_take_a_tax_point(provider):
    draft = _draft(CustomerFactory(country="GB"), kind=Invoice.Kind.PRO_FORMA)
    with pytest.raises(InvoiceError, match="Only a VAT invoice"):
        issue_invoice(draft, issued_on=ISSUE_DAY, tax_point=ISSUE_DAY, actor=System("tests"))


def test_a_category_charged_at_two_rates_needs_the_rate_on_the_credit_line(provider):
    original = issue_invoice(_draft(CustomerFactory(country="GB")), issued_on=ISSUE_DAY, actor=System("tests"))
    # An invoice from before line categories: migration 0007 gave its lines all "standard".
    # Issued lines are immutable, so on PostgreSQL stand the trigger aside to make one.
    from django.db import connection

    from billing.models import InvoiceLine

    trigger = "billing_invoiceline_immutable"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending deferred checks, or ALTER refuses
            cursor.execute(f"ALTER TABLE billing_invoiceline DISABLE TRIGGER {trigger}")
        changed = InvoiceLine.objects.filter(invoice=original).update(vat_category="standard")
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE billing_invoiceline ENABLE TRIGGER {trigger}")
    if not changed:
        pytest.fail("no lines")

    with pytest.raises(InvoiceError, match=r"more than one rate \(0%, 5%, 20%\)"):
        credit_invoice(
            original,
            lines=[{"description": "Part", "quantity": 1, "unit_price": "1.00"}],
            reason="Part",
            issued_on=ISSUE_DAY,
            actor=System("tests"),
        )
    note = credit_invoice(
        original, reason="Ordered in error", issued_on=ISSUE_DAY, actor=System("tests")
    )  # copies keep their rates
    assert _rates(note) == _rates(original)
