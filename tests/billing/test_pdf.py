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
from accounts.audit import System
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
    note = credit_invoice(invoice, reason="Service not delivered", issued_on=ISSUED, actor=System("tests"))

    text = pdf_text(render_invoice_pdf(note))

    assert "Credit note" in text
    assert f"corrects invoice {invoice.number} dated 2 March 2026" in text
    assert "Reason for the credit: Service not delivered" in text


def test_vat_invoice_shows_a_tax_point_earlier_than_its_date_of_issue(provider, uk_customer):
    from billing.issuing import add_line, issue_invoice
    from tests.billing.factories import InvoiceFactory

    draft = InvoiceFactory(customer=uk_customer)
    add_line(draft, description="Hosting", quantity=1, unit_price="10.00")
    invoice = issue_invoice(draft, issued_on=ISSUED, tax_point=ISSUED - dt.timedelta(days=5), actor=System("tests"))

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

    good = client.post(add, {**form, **payment, "bank_sort_code": "402716", "bank_iban": "GB07NWBK40271687654321",
                             "pro_forma_mode": "on", "billing_day": "5"})  # fmt: skip
    assert good.status_code == 302
    policy = BillingSettings.current()
    assert (policy.bank_sort_code, policy.bank_iban) == ("40-27-16", "GB07NWBK40271687654321")
    assert policy.pro_forma_mode and policy.billing_day == 5
    assert client.get(reverse("admin:billing_billingsettings_changelist")).url == reverse(
        "admin:billing_billingsettings_change", args=[1]
    )

    BillingSettings.objects.filter(pk=1).update(pro_forma_mode=False)
    text = pdf_text(render_invoice_pdf(issued_invoice(uk_customer, issued_on=ISSUED)))
    assert "Sort code 40-27-16" in text and "Account number 87654321" in text
    assert "IBAN GB07 NWBK 4027 1687 6543 21" in text
    assert "Example Hosting Ltd is a limited liability partnership registered in England and Wales" in text


# The address field of DIN 5008 form B, which DL and C5/6 window envelopes show: 20 mm from
# the left and 45 mm from the top of the sheet, 85 x 45 mm; text keeps 5 mm inside it.
FIELD = (20, 45, 105, 90)
CLEAR = (25, 50, 100, 85)


def _word_boxes(content: bytes) -> list[tuple[float, float, float, float, str]]:
    """(left, top, right, bottom, word) in mm for every word on page 1, from pdftotext -bbox."""
    import html as html_module
    import re
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pdf") as pdf:
        pdf.write(content)
        pdf.flush()
        out = subprocess.run(
            ["pdftotext", "-bbox", "-f", "1", "-l", "1", pdf.name, "-"], capture_output=True, text=True, check=True
        ).stdout
    mm = 25.4 / 72
    return [
        (float(x0) * mm, float(y0) * mm, float(x1) * mm, float(y1) * mm, html_module.unescape(word))
        for x0, y0, x1, y1, word in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', out
        )
    ]


def _lines_in(boxes, area) -> list[str]:
    """The words that overlap ``area`` (left, top, right, bottom), joined into lines."""
    left, top, right, bottom = area
    lines: dict[float, list[tuple[float, str]]] = {}
    for x0, y0, x1, y1, word in boxes:
        if x0 < right and x1 > left and y0 < bottom and y1 > top:
            key = next((k for k in lines if abs(k - y1) < 0.8), y1)
            lines.setdefault(key, []).append((x0, word))
    return [" ".join(word for _, word in sorted(words)) for _, words in sorted(lines.items())]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, ["Acme Widgets Ltd", "10 Downing Lane", "Leeds", "LS1 4AP"]),
        (  # the longest the field takes: eight lines
            {"trading_name": "Acme Widgets", "address_line2": "Unit 7, Riverside Industrial Estate",
             "county": "West Yorkshire", "town": "Leeds"},
            ["Acme Widgets Ltd", "Trading as Acme Widgets", "10 Downing Lane", "Unit 7, Riverside Industrial Estate",
             "Leeds", "LS1 4AP"],  # Royal Mail's format has no county
        ),
        (
            {"registered_name": "Société Générale d'Hébergement SARL", "address_line1": "12 rue de la République",
             "address_line2": "Bâtiment B, 3e étage", "town": "Lyon", "postcode": "69002", "country": "FR",
             "vat_number": ""},
            ["Société Générale d'Hébergement SARL", "12 rue de la République", "Bâtiment B, 3e étage",
             "69002 Lyon", "France"],
        ),
    ],
)  # fmt: skip
def test_the_address_shows_whole_through_a_window_envelope_and_nothing_else_does(
    provider, uk_customer, fields, expected
):
    for name, value in fields.items():
        setattr(uk_customer, name, value)
    uk_customer.save()
    invoice = issued_invoice(uk_customer, issued_on=ISSUED)

    boxes = _word_boxes(render_invoice_pdf(invoice))

    in_field = _lines_in(boxes, FIELD)
    assert in_field[0] == "Example Hosting Ltd · Exampletown · EX1 1AA"  # the return address, small, at the top
    assert in_field[1:] == expected  # the addressee, whole: nothing clipped, nothing else in the field
    # At least 5 mm inside the field on every side, so a letter a little out of true still shows it all.
    assert _lines_in(boxes, CLEAR) == in_field
    inside = [
        box for box in boxes if box[0] < FIELD[2] and box[2] > FIELD[0] and box[1] < FIELD[3] and box[3] > FIELD[1]
    ]
    assert all(CLEAR[0] <= x0 and x1 <= CLEAR[2] and CLEAR[1] <= y0 and y1 <= CLEAR[3] for x0, y0, x1, y1, _ in inside)


def test_an_address_that_would_not_fit_the_window_is_refused_at_issue_before_it_is_numbered(provider, uk_customer):
    from billing.documents.totals import InvoiceError
    from billing.issuing import add_line, issue_invoice
    from tests.billing.factories import InvoiceFactory

    uk_customer.trading_name = "Acme Widgets"
    uk_customer.address_line2 = "Unit 7, Riverside Industrial Estate, Kirkstall Road West Entrance"
    uk_customer.save()
    draft = InvoiceFactory(customer=uk_customer)
    add_line(draft, description="Hosting", quantity=1, unit_price="10.00")

    with pytest.raises(InvoiceError, match="is wider than the envelope window's 75 mm: split it over two lines"):
        issue_invoice(draft, issued_on=ISSUED, actor=System("tests"))

    draft.refresh_from_db()
    assert draft.status == Invoice.Status.DRAFT and draft.number is None
    assert not Invoice.objects.exclude(status=Invoice.Status.DRAFT).exists()


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


@pytest.mark.parametrize(
    ("customer_fields", "invoice_fields", "expected"),
    [
        ({}, {}, ["VAT invoice", "20% £10.00 £2.00", "Total due £12.00", "Total VAT in sterling £2.00"]),
        ({"legal_form": "individual", "company_number": "", "registered_name": "Jane Smith"}, {},
         ["Jane Smith", "Total due £12.00", "Total VAT in sterling £2.00"]),
        ({"country": "DE", "town": "Berlin", "postcode": "10115", "vat_number": "DE136695976"}, {},
         ["Customer VAT number: DE136695976", "Reverse charge £10.00", "Total VAT £0.00",
          "Reverse charge: the customer"]),
        ({"country": "IE", "town": "Dublin", "postcode": "D02 X285", "legal_form": "individual", "company_number": ""},
         {}, ["VAT (Ireland)", "23% £10.00 £2.30", "Total VAT (Ireland) £2.30"]),
        ({"country": "US", "town": "Wilmington", "county": "DE", "postcode": "19801"}, {},
         ["Outside the scope £10.00", "Outside the scope of UK VAT"]),
        ({"country": "US", "town": "Wilmington", "county": "DE", "postcode": "19801", "currency": "USD"},
         {"currency": "USD"}, ["US$10.00", "Total due US$10.00", "Please pay US$10.00"]),
    ],
)  # fmt: skip
def test_every_kind_of_customer_gets_a_complete_document(provider, settings, customer_fields, invoice_fields, expected):
    """The fields of a full VAT invoice for each kind of customer the audit billed, with what
    its VAT rule must say; the credit note and the paid pro-forma pair have tests of their own."""
    customer = CustomerFactory(address_line1="1 Main Street", **customer_fields)
    invoice = issued_invoice(customer, issued_on=ISSUED, **invoice_fields)

    text = pdf_text(render_invoice_pdf(invoice))

    for required in (invoice.number, "Date of issue 2 March 2026", "Tax point 2 March 2026", "Example Hosting Ltd",
                     "GB980780684", customer.registered_name, "1 Main Street", "Hosting 1"):  # fmt: skip
        assert required in text
    for wanted in expected:
        assert wanted in text


def test_documents_issued_together_are_each_stored_and_emailed_and_one_failing_stops_none(
    provider, uk_customer, mailoutbox, monkeypatch
):
    from billing.delivery import pdf
    from billing.tasks import render_and_send_invoices

    MembershipFactory(customer=uk_customer, role=roles.Role.BILLING)
    invoices = [issued_invoice(uk_customer, issued_on=ISSUED) for _ in range(3)]
    render = pdf.render_invoice_pdf

    def failing_for_the_second(invoice, data=None):
        if invoice.pk == invoices[1].pk:
            raise RuntimeError("the renderer broke")
        return render(invoice, data)

    monkeypatch.setattr(pdf, "render_invoice_pdf", failing_for_the_second)
    render_and_send_invoices([invoice.pk for invoice in invoices])

    stored = {invoice.pk: bool(invoice.pdf) for invoice in Invoice.objects.filter(pk__in=[i.pk for i in invoices])}
    assert stored == {invoices[0].pk: True, invoices[1].pk: False, invoices[2].pk: True}
    assert sorted(m.subject for m in mailoutbox) == sorted(
        f"Invoice {invoice.number} from Example Hosting Ltd" for invoice in (invoices[0], invoices[2])
    )
    # Each email carries its own document's stored PDF, as one sent alone does.
    for message in mailoutbox:
        [(filename, content, _mimetype)] = message.attachments
        invoice = Invoice.objects.get(number=filename.removesuffix(".pdf"))
        assert hashlib.sha256(content).hexdigest() == invoice.pdf_sha256


def test_documents_issued_together_for_several_customers_each_go_to_their_own_billing_contacts(
    provider, mailoutbox, django_assert_max_num_queries
):
    from billing.tasks import render_and_send_invoices

    customers = [CustomerFactory() for _ in range(3)]
    contacts = {
        customer.pk: sorted(
            MembershipFactory(customer=customer, role=role).user.email
            for role in (roles.Role.OWNER, roles.Role.BILLING)
        )
        for customer in customers[:2]
    }
    MembershipFactory(customer=customers[2], role=roles.Role.TECHNICAL)  # receives no billing mail
    invoices = [issued_invoice(customer, issued_on=ISSUED) for customer in customers for _ in range(2)]

    render_and_send_invoices([invoice.pk for invoice in invoices])

    sent = {}
    for message in mailoutbox:
        [(filename, _content, _mimetype)] = message.attachments
        sent[filename.removesuffix(".pdf")] = sorted(message.to)
    assert sent == {
        invoice.number: contacts[invoice.customer_id] for invoice in invoices if invoice.customer_id in contacts
    }
    # The one with nobody to mail still has its PDF stored, for whoever is given the role.
    assert all(invoice.pdf for invoice in Invoice.objects.filter(customer=customers[2]))


def test_a_batch_records_its_pdfs_in_one_statement_and_attaches_a_pdf_stored_before_as_it_is(
    provider, uk_customer, mailoutbox
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.tasks import render_and_send_invoices

    MembershipFactory(customer=uk_customer, role=roles.Role.BILLING)
    invoices = [issued_invoice(uk_customer, issued_on=ISSUED) for _ in range(4)]
    store_invoice_pdf(invoices[0])  # stored before, by the portal's download, say
    earlier = default_storage.open(invoices[0].pdf.name).read()

    with CaptureQueriesContext(connection) as queries:
        render_and_send_invoices([invoice.pk for invoice in invoices])

    recorded = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "billing_invoice" SET "pdf"')]
    assert len(recorded) == 1
    attached = {}
    for message in mailoutbox:
        [(filename, content, _mimetype)] = message.attachments
        attached[filename.removesuffix(".pdf")] = content
    assert attached[invoices[0].number] == earlier
    for invoice in Invoice.objects.filter(pk__in=[i.pk for i in invoices]):
        assert hashlib.sha256(attached[invoice.number]).hexdigest() == invoice.pdf_sha256
        assert default_storage.open(invoice.pdf.name).read() == attached[invoice.number]


def test_a_pdf_another_worker_stored_while_the_batch_rendered_is_the_one_kept_and_sent(
    provider, uk_customer, mailoutbox, monkeypatch
):
    from billing.delivery import pdf
    from billing.tasks import render_and_send_invoices

    MembershipFactory(customer=uk_customer, role=roles.Role.BILLING)
    invoices = [issued_invoice(uk_customer, issued_on=ISSUED) for _ in range(2)]
    render = pdf.render_invoice_pdf
    theirs = {}

    def another_worker_stores_the_first_meanwhile(invoice, data=None):
        content = render(invoice, data)
        if theirs.get("name") == "storing":  # the other worker's rendering: other bytes than ours
            return content + b"%another rendering\n"
        if invoice.pk == invoices[0].pk and not theirs:
            theirs["name"] = "storing"
            other = Invoice.objects.get(pk=invoice.pk)
            store_invoice_pdf(other)  # its own rendering, with its own bytes
            theirs.update(name=other.pdf.name, content=default_storage.open(other.pdf.name).read())
        return content

    monkeypatch.setattr(pdf, "render_invoice_pdf", another_worker_stores_the_first_meanwhile)
    render_and_send_invoices([invoice.pk for invoice in invoices])

    first = Invoice.objects.get(pk=invoices[0].pk)
    assert first.pdf.name == theirs["name"]
    sent = {m.attachments[0][0].removesuffix(".pdf"): m.attachments[0][1] for m in mailoutbox}
    assert sent[first.number] == theirs["content"]
    assert Invoice.objects.get(pk=invoices[1].pk).pdf
    assert len(mailoutbox) == 2
