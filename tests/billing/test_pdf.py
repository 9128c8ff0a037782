"""The invoice PDF carries every field of a full VAT invoice (VAT Regulations 1995 reg 14)
and the trading disclosures; the background task stores it once and emails it once."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from io import BytesIO

import pytest
from django.core.files.storage import default_storage
from pypdf import PdfReader

from accounts import roles
from accounts.correspondence.models import Message
from billing.delivery.pdf import render_invoice_pdf, store_invoice_pdf
from billing.models import Invoice
from billing.tasks import render_and_send_invoice
from tests.accounts.factories import CustomerFactory, MembershipFactory, ProviderDetailsFactory
from tests.billing.factories import BillingSettingsFactory, issued_invoice

ISSUED = dt.date(2026, 3, 2)


def pdf_text(content: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages)
    return " ".join(text.split())


@pytest.fixture
def provider(db):
    BillingSettingsFactory(
        bank_account_name="Example Hosting Ltd",
        bank_sort_code="12-34-56",
        bank_account_number="12345678",
    )
    return ProviderDetailsFactory()


@pytest.fixture
def uk_customer(db):
    return CustomerFactory(
        registered_name="Acme Widgets Ltd",
        address_line1="10 Downing Lane",
        town="Leeds",
        postcode="LS1 4AP",
        vat_number="GB123456789",
    )


def test_pdf_shows_every_field_of_a_full_vat_invoice(provider, uk_customer):
    invoice = issued_invoice(uk_customer, lines=[("VPS hosting, March 2026", 2, "15.50")], issued_on=ISSUED)

    text = pdf_text(render_invoice_pdf(invoice))

    assert "VAT invoice" in text
    assert invoice.number in text
    assert "Date of issue 2 March 2026" in text
    assert "Tax point 2 March 2026" in text
    assert "Due date 1 April 2026" in text
    # Supplier: name, address, VAT registration number.
    assert "Example Hosting Ltd" in text
    assert "1 Example Street" in text and "EX1 1AA" in text
    assert "GB980780684" in text
    # Customer: name and address (and VAT number, which it has).
    assert "Acme Widgets Ltd" in text
    assert "10 Downing Lane" in text and "Leeds" in text and "LS1 4AP" in text
    assert "GB123456789" in text
    # The line: description, quantity, unit price, VAT rate, net.
    assert "VPS hosting, March 2026 2 £15.50 20% £31.00" in text
    # Totals, and the total VAT in sterling.
    assert "Total net £31.00" in text
    assert "Total VAT £6.20" in text
    assert "Total VAT in sterling £6.20" in text
    assert "Total due £37.20" in text
    # Payment instructions.
    assert "12-34-56" in text and "12345678" in text
    # Trading disclosures (Companies Act 2006).
    assert "registered in England and Wales, company number 01234567" in text
    assert "Registered office: 1 Example Street, Exampletown, EX1 1AA" in text


def test_pdf_uses_the_details_copied_at_issue_not_todays(provider, uk_customer):
    invoice = issued_invoice(uk_customer, issued_on=ISSUED)
    uk_customer.registered_name = "Renamed Since Ltd"
    uk_customer.address_line1 = "99 New Road"
    uk_customer.save()
    provider.registered_name = "New Owner Ltd"
    provider.save()

    text = pdf_text(render_invoice_pdf(Invoice.objects.get(pk=invoice.pk)))

    assert "Acme Widgets Ltd" in text and "10 Downing Lane" in text
    assert "Renamed Since" not in text and "99 New Road" not in text
    assert "New Owner" not in text


def test_reverse_charge_invoice_carries_the_wording(provider):
    customer = CustomerFactory(
        registered_name="Beispiel GmbH",
        address_line1="Hauptstraße 1",
        town="Berlin",
        postcode="10115",
        country="DE",
        vat_number="DE136695976",
    )
    invoice = issued_invoice(customer, issued_on=ISSUED)
    assert invoice.vat_rule == "reverse_charge"

    text = pdf_text(render_invoice_pdf(invoice))

    assert "Reverse charge: the customer must account for any VAT due in their country." in text
    assert "DE136695976" in text
    assert "Germany" in text


def test_foreign_currency_invoice_shows_sterling_totals_with_the_rate(provider, uk_customer):
    invoice = issued_invoice(
        uk_customer,
        lines=[("Dedicated server", 1, "100.00")],
        issued_on=ISSUED,
        currency="EUR",
        gbp_rate=Decimal("0.850000"),
        gbp_rate_source="HMRC monthly exchange rate",
        gbp_rate_date=dt.date(2026, 3, 1),
    )

    text = pdf_text(render_invoice_pdf(invoice))

    assert "€100.00" in text and "€20.00" in text and "€120.00" in text
    assert "Total net in sterling £85.00" in text
    assert "Total VAT in sterling £17.00" in text
    assert "HMRC monthly exchange rate" in text
    assert "0.850000" in text and "1 March 2026" in text


def test_credit_note_names_the_invoice_it_corrects(provider, uk_customer):
    from billing.workflows.settlement import credit_invoice

    invoice = issued_invoice(uk_customer, issued_on=ISSUED)
    note = credit_invoice(invoice, reason="Service not delivered", issued_on=ISSUED)

    text = pdf_text(render_invoice_pdf(note))

    assert "Credit note" in text
    assert f"corrects invoice {invoice.number} dated 2 March 2026" in text
    assert "Reason for the credit: Service not delivered" in text


def test_vat_invoice_shows_a_tax_point_earlier_than_its_date_of_issue(provider, uk_customer):
    from billing.issuing import add_line, issue_invoice
    from tests.billing.factories import InvoiceFactory

    draft = InvoiceFactory(customer=uk_customer)
    add_line(draft, description="Hosting", quantity=1, unit_price="10.00")
    invoice = issue_invoice(draft, issued_on=ISSUED, tax_point=ISSUED - dt.timedelta(days=5))

    text = pdf_text(render_invoice_pdf(invoice))

    assert "Date of issue 2 March 2026" in text
    assert "Tax point 25 February 2026" in text


def test_pdf_is_stored_once_with_its_hash(provider, uk_customer):
    invoice = issued_invoice(uk_customer, issued_on=ISSUED)

    store_invoice_pdf(invoice)
    first_name, first_hash = invoice.pdf.name, invoice.pdf_sha256
    store_invoice_pdf(Invoice.objects.get(pk=invoice.pk))
    invoice.refresh_from_db()

    assert (invoice.pdf.name, invoice.pdf_sha256) == (first_name, first_hash)
    with default_storage.open(invoice.pdf.name, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == invoice.pdf_sha256


def test_task_stores_the_pdf_and_emails_it_once(provider, uk_customer, mailoutbox, django_capture_on_commit_callbacks):
    billing_contact = MembershipFactory(customer=uk_customer, role=roles.Role.BILLING).user
    MembershipFactory(customer=uk_customer, role=roles.Role.TECHNICAL)
    invoice = issued_invoice(uk_customer, issued_on=ISSUED)

    with django_capture_on_commit_callbacks(execute=True):
        render_and_send_invoice(invoice.pk)
    with django_capture_on_commit_callbacks(execute=True):
        render_and_send_invoice(invoice.pk)

    invoice.refresh_from_db()
    with default_storage.open(invoice.pdf.name, "rb") as handle:
        stored = handle.read()
    assert hashlib.sha256(stored).hexdigest() == invoice.pdf_sha256

    message = Message.objects.get(idempotency_key=f"invoice:{invoice.pk}")
    assert message.kind == "billing"
    assert message.to_addresses == [billing_contact.email]
    assert message.subject == f"Invoice {invoice.number} from Example Hosting Ltd"
    assert "£12.00" in message.body_text and "1 April 2026" in message.body_text
    assert "12345678" in message.body_text
    assert message.body_html
    [attachment] = message.attachments.all()
    assert attachment.filename == f"{invoice.number}.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.sha256 == invoice.pdf_sha256

    assert len(mailoutbox) == 1
    [(filename, content, mimetype)] = mailoutbox[0].attachments
    assert filename == f"{invoice.number}.pdf" and mimetype == "application/pdf"
    assert hashlib.sha256(content).hexdigest() == invoice.pdf_sha256


def test_staff_set_payment_instructions_and_legal_form_in_the_admin_and_invoices_print_them(uk_customer, client):
    from django.urls import reverse

    from billing.models import BillingSettings
    from tests.accounts.factories import UserFactory, enable_totp
    from tests.accounts.test_admin import _form_data

    ProviderDetailsFactory()
    staff = UserFactory(is_staff=True, is_superuser=True)
    enable_totp(staff)
    client.force_login(staff)
    provider_page = reverse("admin:accounts_providerdetails_change", args=[1])
    assert client.post(provider_page, {**_form_data(client.get(provider_page)), "legal_form": "llp"}).status_code == 302
    # Billing's own settings: the first visit opens the form to add them.
    add = reverse("admin:billing_billingsettings_add")
    assert client.get(reverse("admin:billing_billingsettings_changelist")).url == add
    form = _form_data(client.get(add))
    payment = {"bank_account_name": "Example Hosting LLP", "bank_account_number": "87654321"}

    typos = {"bank_sort_code": "12-34", "bank_iban": "GB00 NWBK 6016 1331 9268 19"}
    bad = client.post(add, {**form, **payment, **typos})
    page = bad.content.decode()
    assert bad.status_code == 200
    assert "&#x27;12-34&#x27; is not a sort code" in page and "is not a valid IBAN" in page
    assert not BillingSettings.objects.exists()  # nothing half-saved

    good = client.post(add, {**form, **payment, "bank_sort_code": "402716", "bank_iban": "GB29NWBK60161331926819",
                             "pro_forma_mode": "on", "billing_day": "5"})  # fmt: skip
    assert good.status_code == 302
    policy = BillingSettings.current()
    assert (policy.bank_sort_code, policy.bank_iban) == ("40-27-16", "GB29NWBK60161331926819")
    assert policy.pro_forma_mode and policy.billing_day == 5
    assert client.get(reverse("admin:billing_billingsettings_changelist")).url == reverse(
        "admin:billing_billingsettings_change", args=[1]
    )

    BillingSettings.objects.filter(pk=1).update(pro_forma_mode=False)
    text = pdf_text(render_invoice_pdf(issued_invoice(uk_customer, issued_on=ISSUED)))
    assert "Sort code 40-27-16" in text and "Account number 87654321" in text
    assert "IBAN GB29 NWBK 6016 1331 9268 19" in text
    assert "Example Hosting Ltd is a limited liability partnership registered in England and Wales" in text


# A DL window envelope's window (C5/6 and DL, left window): 20 mm from the left edge,
# 45 mm from the top, 90 mm wide and 40 mm high. Measured on the sheet, in millimetres.
WINDOW_LEFT, WINDOW_TOP, WINDOW_RIGHT, WINDOW_BOTTOM = 20, 45, 110, 85


def _text_positions(content: bytes) -> list[tuple[float, float, str]]:
    """(x from the left, baseline from the top, text) in mm for each run of text on page 1."""
    page = PdfReader(BytesIO(content)).pages[0]
    height = float(page.mediabox.height)
    found = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            x = cm[0] * tm[4] + cm[2] * tm[5] + cm[4]
            y = cm[1] * tm[4] + cm[3] * tm[5] + cm[5]
            found.append((x * 25.4 / 72, (height - y) * 25.4 / 72, text.strip()))

    page.extract_text(visitor_text=visit)
    return found


def test_the_postal_address_and_nothing_else_shows_through_a_dl_envelope_window(provider, uk_customer):
    invoice = issued_invoice(uk_customer, issued_on=ISSUED)
    cap_height = 2.5  # mm above the baseline that 9.5 pt capitals reach (DejaVu Sans: 0.73 em)

    positions = _text_positions(render_invoice_pdf(invoice))

    def inside(x: float, baseline: float) -> bool:
        return WINDOW_LEFT - 0.5 <= x < WINDOW_RIGHT and WINDOW_TOP + cap_height <= baseline <= WINDOW_BOTTOM

    def near(x: float, baseline: float) -> bool:
        return x < WINDOW_RIGHT and WINDOW_TOP - 5 < baseline < WINDOW_BOTTOM + 5

    in_window = [text for x, baseline, text in positions if inside(x, baseline)]
    assert in_window == ["Acme Widgets Ltd", "10 Downing Lane", "Leeds", "LS1 4AP"]
    # Nothing overlaps the window's edges either.
    assert [text for x, baseline, text in positions if near(x, baseline)] == in_window


def test_the_payment_instructions_are_never_split_across_pages(provider):
    """A USD invoice whose lines end near the foot of a page: "How to pay" and every bank
    detail down to the BIC go on the same page."""
    BillingSettingsFactory(bank_iban="GB29NWBK60161331926819", bank_bic="NWBKGB2L")
    customer = CustomerFactory(country="US", currency="USD", town="Wilmington", postcode="19801")
    for count in (34, 36, 38):
        invoice = issued_invoice(
            customer, lines=[(f"Server {i}", 1, "10.00") for i in range(count)], currency="USD", issued_on=ISSUED
        )
        pages = [page.extract_text() for page in PdfReader(BytesIO(render_invoice_pdf(invoice))).pages]

        [where] = {
            i for i, text in enumerate(pages) for label in ("How to pay", "Sort code", "IBAN", "BIC") if label in text
        }
        assert "Please pay US$" in pages[where]


def _glyphs_drawn(content: bytes) -> list[int]:
    """The glyph of every character drawn on the PDF's pages (WeasyPrint writes text as
    two-byte glyph ids); glyph 0 is a font's .notdef, the empty box of a missing character."""
    from pypdf.generic import ContentStream

    reader = PdfReader(BytesIO(content))
    glyphs = []
    for page in reader.pages:
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator not in (b"Tj", b"TJ"):
                continue
            for item in operands[0] if operator == b"TJ" else [operands[0]]:
                raw = getattr(item, "original_bytes", None)
                if raw is not None:
                    glyphs += [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return glyphs


@pytest.mark.parametrize(
    "name",
    ["Ζωή Παπαδοπούλου", "Łukasz Żółć-Gęślą", "شركة النور للتقنية", "Rocket Hosting 🚀🦄 Ltd"],
)
def test_names_in_any_script_or_with_an_emoji_print_without_empty_boxes(provider, name):
    customer = CustomerFactory(registered_name=name, legal_form="individual", company_number="")
    invoice = issued_invoice(customer, issued_on=ISSUED)

    content = render_invoice_pdf(invoice)

    assert 0 not in _glyphs_drawn(content)
    assert all(word in pdf_text(content) for word in name.replace("🚀🦄", "").split())
