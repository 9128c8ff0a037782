"""Letters of claim (their PDF text), the 30-day wait, disputes and their hold, the handoff
pack, its ledger entry and the customer's email; write-off."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import tempfile
import zipfile
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts import roles
from accounts.audit import System
from accounts.models import LegalForm, Membership
from billing.collections.disputes import raise_dispute, reject_dispute, resolve_dispute
from billing.collections.handoff import PACK_CONTENTS, check_handoff, hand_off, write_off
from billing.collections.letters import record_answer, record_posting, send_letter, submit_reply
from billing.collections.models import CollectionAgency, LetterReply
from billing.collections.reminders import run_reminders
from billing.models import Invoice
from privacy.models import DisclosureEntry, LegalHold, PolicyAcknowledgement, PolicyVersion
from privacy.services.holds import is_held
from tests.accounts.factories import StaffFactory
from tests.billing.collections.helpers import customer, invoice_due, mails

D = dt.date
pytestmark = pytest.mark.django_db


def at(day: dt.date):
    return time_machine.travel(dt.datetime.combine(day, dt.time(10)), tick=False)


def pdftotext(content: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as pdf:
        pdf.write(content)
        pdf.flush()
        out = subprocess.run(["pdftotext", "-layout", pdf.name, "-"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())


def reminded(invoice, until: dt.date) -> None:
    day = invoice.due_on - dt.timedelta(days=3)
    while day <= until:
        run_reminders(day, actor=System("tests"))
        day += dt.timedelta(days=1)


@pytest.fixture
def agency(db):
    return CollectionAgency.objects.create(
        name="Northern Recoveries LLP", kind=CollectionAgency.Kind.AGENCY, address="1 Quay St\nManchester\nM3 3JE",
        email="accounts@northern-recoveries.example", reference="EXH-001",
        payment_instructions="Pay online at their site.",
    )  # fmt: skip


def sole_trader_with_debt():
    debtor = customer(legal_form=LegalForm.SOLE_TRADER, company_number="", registered_name="Jo Bloggs")
    invoice = invoice_due(debtor, D(2026, 3, 10), amount="250.00")
    reminded(invoice, D(2026, 3, 31))
    return debtor, invoice


def test_the_letter_of_claim_has_every_element_the_protocol_requires(provider):
    debtor, invoice = sole_trader_with_debt()
    with at(D(2026, 4, 1)):
        letter = send_letter(debtor, invoices=[invoice], actor=StaffFactory())

    text = pdftotext(open_letter(letter))
    for element in (
        "Letter of Claim",
        "Date of this letter 1 April 2026",  # dated
        "You owe us £300.00",  # the amount
        "No interest or other charges are being added",  # whether interest or charges continue
        "written agreement",  # the agreement
        "Sort code 12-34-56",  # how to pay
        "Contact us to discuss how you can pay",  # how to discuss options
        "Complete the enclosed Reply Form and send it to",  # where to send the Reply Form
        "reply within 30 days",
        "Statement of account",
        "Information Sheet",
        "Reply Form",
        "Financial Statement",
        "National Debtline",
        invoice.number,
    ):
        assert element in text, element
    assert mails(debtor, "collections_letter")[0].kind == "legal"


def test_the_enclosed_forms_ask_everything_the_protocols_annexes_ask(provider):
    debtor, invoice = sole_trader_with_debt()
    with at(D(2026, 4, 1)):
        letter = send_letter(debtor, invoices=[invoice], actor=StaffFactory())
    text = pdftotext(open_letter(letter))
    sheet_at = text.index("We are sending you this sheet")
    form_at = text.index("Please return this form within 30 days")
    statement_at = text.index("Fill this in if you want to pay by instalments")
    sheet, form, statement = text[sheet_at:form_at], text[form_at:statement_at], text[statement_at:]

    for element in (
        "Pre-Action Protocol for Debt Claims",
        "You have 30 days to reply",
        "by 1 May 2026",  # 30 days from the letter's date
        "What happens if you do not reply",
        "County Court Judgment",
        "court fees, costs and interest",
        "enforcement agents",
        "copies of the documents",
        "we will not start a claim until at least 30 days after",
        "reasonable time",
        "breathing space",
        "Free and independent debt advice",
        *("National Debtline", "StepChange", "Citizens Advice", "MoneyHelper", "Business Debtline"),
        *("Civil Legal Advice", "AdviceUK", "0808 808 4000"),
        "If you dispute the debt",
        "mediation",
        "Financial Statement",
        "disability",
    ):
        assert element in sheet, f"Information Sheet: {element}"
    for element in (
        "I agree I owe the debt",
        "I agree I owe part of the debt",
        "I do not know whether I owe the debt",
        "I dispute the debt",
        "I have already paid the debt",
        "I will pay the amount I owe in full",
        "I want to pay by instalments",
        "I am getting debt advice from",
        "I need more time",
        "I need documents",
        "the agreement",
        "the statement of account",
        "a complaint",
        "Signed",
        "Date",
        "£300.00",
        "1 May 2026",
    ):
        assert element in form, f"Reply Form: {element}"
    for element in (
        "Your household",
        "Income each month",
        "Earnings from work",
        "Benefits and tax credits",
        "Pensions",
        "Total income",
        "Spending each month",
        "Home and contents",
        "council tax",
        "Communications and leisure",
        "Food and housekeeping",
        "Travel",
        "Personal costs",
        "Savings",
        "Priority debts",
        "Total spending",
        "Other debts",
        "Savings and assets",
        "What you offer to pay us each month",
    ):
        assert element in statement, f"Financial Statement: {element}"


def open_letter(letter) -> bytes:
    from billing.collections.letters import letter_pdf_bytes

    return letter_pdf_bytes(letter)


def test_a_business_gets_a_letter_before_action_with_14_days(provider, agency):
    company = customer()
    invoice = invoice_due(company, D(2026, 3, 10), amount="250.00")
    reminded(invoice, D(2026, 3, 31))
    with at(D(2026, 4, 1)):
        letter = send_letter(company, invoices=[invoice], actor=StaffFactory())
    text = pdftotext(open_letter(letter))

    assert "Letter before action" in text and "within 14 days" in text and "Reply Form" not in text
    assert check_handoff(company, [invoice], today=D(2026, 4, 14)) == [
        f"{invoice}: not before 15 April 2026 (14 days after the letter before action)."
    ]
    assert check_handoff(company, [invoice], today=D(2026, 4, 15)) == []


def test_the_handoff_is_refused_until_30_days_after_the_letter_of_claim_was_posted(provider, agency):
    debtor, invoice = sole_trader_with_debt()
    staff = StaffFactory()
    with at(D(2026, 4, 1)):
        letter = send_letter(debtor, invoices=[invoice], actor=staff)
        assert check_handoff(debtor, [invoice]) == [
            f"{invoice}: not yet, the Letter of Claim has not been recorded as posted."
        ]
    with at(D(2026, 4, 2)):
        record_posting(letter, posted_on=D(2026, 4, 2), actor=staff)

    with at(D(2026, 5, 1)), pytest.raises(ValidationError) as refused:
        hand_off(debtor, invoices=[invoice], agency=agency, actor=staff)
    assert f"{invoice}: not before 2 May 2026 (30 days after the Letter of Claim was sent)." in refused.value.messages
    with at(D(2026, 5, 2)):
        assert check_handoff(debtor, [invoice]) == []


def test_a_reply_asking_for_documents_holds_the_handoff_until_30_days_after_our_answer(provider, agency):
    debtor, invoice = sole_trader_with_debt()
    staff = StaffFactory()
    owner = Membership.objects.filter(customer=debtor).first()
    with at(D(2026, 4, 1)):
        letter = send_letter(debtor, invoices=[invoice], actor=staff)
        record_posting(letter, posted_on=D(2026, 4, 1), actor=staff)
    with at(D(2026, 4, 20)):
        reply = submit_reply(letter, membership=owner, response=LetterReply.Response.DISPUTE, wants_documents=True,
                             dispute_reason="I never ordered it", documents_wanted="The signed order form")  # fmt: skip
        assert "asked for documents" in check_handoff(debtor, [invoice], today=D(2026, 6, 1))[0]
    with at(D(2026, 5, 5)):
        record_answer(reply, answered_on=D(2026, 5, 5), actor=staff)

    assert check_handoff(debtor, [invoice], today=D(2026, 6, 3)) != []
    assert check_handoff(debtor, [invoice], today=D(2026, 6, 4)) == []


def test_a_dispute_pauses_reminders_and_charges_and_places_a_hold_never_shown(provider, client):
    company = customer()
    invoice = invoice_due(company, D(2026, 3, 10))
    billing = Membership.objects.get(customer=company, role=roles.Role.BILLING)
    line = invoice.lines.get()

    dispute = raise_dispute(
        invoice, membership=billing, reason="The server was down all month", line_ids=[line.pk],
        attachments=[SimpleUploadedFile("outage.txt", b"ticket 123", "text/plain")],
    )  # fmt: skip
    run_reminders(D(2026, 3, 17), actor=System("tests"))

    assert mails(company, "collections_reminder") == []
    assert is_held(invoice) and LegalHold.objects.active().filter(customer=company).count() == 1
    client.force_login(billing.user)
    page = client.get(f"/billing/invoices/{invoice.pk}/").content.decode()
    assert "The server was down all month" in page and "Open" in page
    assert "hold" not in page.lower()

    reject_dispute(dispute, reasons="Our monitoring shows 100% uptime.", actor=StaffFactory())
    assert not is_held(invoice)
    assert "100% uptime" in mails(company, "collections_dispute_decided")[0].body_text
    run_reminders(D(2026, 3, 17), actor=System("tests"))
    assert len(mails(company, "collections_reminder")) == 1


def test_resolving_a_dispute_credits_the_disputed_lines(provider):
    company = customer()
    invoice = invoice_due(company, D(2026, 3, 10))
    billing = Membership.objects.get(customer=company, role=roles.Role.BILLING)
    dispute = raise_dispute(invoice, membership=billing, reason="Wrong plan", line_ids=[invoice.lines.get().pk])

    note = resolve_dispute(dispute, reason="Billed on the wrong plan", actor=StaffFactory())

    assert note.kind == Invoice.Kind.CREDIT_NOTE and note.total_gross == invoice.total_gross
    assert not is_held(invoice)


def test_the_handoff_pack_ledger_entry_hold_and_customer_email(provider, agency):
    debtor, invoice = sole_trader_with_debt()
    staff = StaffFactory()
    terms = PolicyVersion.objects.create(document="terms", version=3, effective_from=D(2025, 1, 1), body="Pay on time.")
    PolicyAcknowledgement.objects.create(person=Membership.objects.filter(customer=debtor).first().user, version=terms)
    with at(D(2026, 4, 1)):
        letter = send_letter(debtor, invoices=[invoice], actor=staff)
        record_posting(letter, posted_on=D(2026, 4, 1), actor=staff)
    with at(D(2026, 5, 1)):
        handoff = hand_off(debtor, invoices=[invoice], agency=agency, actor=staff)

    from core.files import read_verified

    pack = zipfile.ZipFile(io.BytesIO(read_verified(handoff.pack, handoff.pack_sha256)))
    names = sorted(pack.namelist())
    correspondence = [n for n in names if n.startswith("correspondence/")]
    assert sorted(set(names) - set(correspondence)) == sorted(
        [
            "README.txt",
            "customer.json",
            "statement-of-account.pdf",
            f"documents/{invoice.number}.pdf",
            "documents/documents.json",
            f"letters/letter-of-claim-2026-04-01-{letter.pk}.pdf",
            "letters/proof-of-sending.json",
            "terms/terms-of-service-v3.txt",
        ]
    )
    assert all(re.fullmatch(r"correspondence/\d{4}-\d\d-\d\d-\d+\.txt", n) for n in correspondence)
    assert len(correspondence) == 6  # five reminders and the letter (not the handoff email itself)
    assert "Pay on time." in pack.read("terms/terms-of-service-v3.txt").decode()
    assert pack.read(f"documents/{invoice.number}.pdf") == open_invoice(invoice)
    assert "Jo Bloggs" in pack.read("customer.json").decode()
    assert all(entry in pack.read("README.txt").decode() for entry in PACK_CONTENTS)

    entry = handoff.disclosure
    assert entry.recipient_kind == DisclosureEntry.Recipient.DEBT_COLLECTION
    assert entry.recipient == "Northern Recoveries LLP" and entry.purpose == "Debt recovery"
    assert entry.legal_basis == "legitimate_interests" and entry.artefact_sha256 == handoff.pack_sha256
    assert list(entry.customers.all()) == [debtor]
    assert is_held(invoice)
    told = mails(debtor, "collections_handed_over")[0]
    assert told.kind == "legal" and "Northern Recoveries LLP" in told.body_text and "EXH-001" in told.body_text
    # Passed on once: no more reminders, and not twice.
    assert check_handoff(debtor, [invoice], today=D(2026, 5, 2))[0].startswith(f"{invoice} is not open")


def open_invoice(invoice) -> bytes:
    from billing.delivery.pdf import stored_pdf_bytes

    invoice.refresh_from_db()
    return stored_pdf_bytes(invoice)


def test_write_off_shows_when_vat_bad_debt_relief_can_be_claimed(provider):
    company = customer()
    invoice = invoice_due(company, D(2026, 3, 10))

    written = write_off(invoice, reason="Customer dissolved", actor=StaffFactory(), on=D(2026, 6, 1))

    assert written.amount == Decimal("120.00") and written.bad_debt_relief_from == D(2026, 9, 10)
    with pytest.raises(ValidationError):
        write_off(invoice, reason="again", actor=StaffFactory())


def test_the_letter_puts_the_customers_address_in_the_window(provider):
    debtor, invoice = sole_trader_with_debt()
    with at(D(2026, 4, 1)):
        letter = send_letter(debtor, invoices=[invoice], actor=StaffFactory())
    with tempfile.NamedTemporaryFile(suffix=".pdf") as pdf:
        pdf.write(open_letter(letter))
        pdf.flush()
        out = subprocess.run(
            ["pdftotext", "-bbox", "-f", "1", "-l", "1", pdf.name, "-"], capture_output=True, text=True, check=True
        ).stdout
    mm = 25.4 / 72
    words = [
        (float(x0) * mm, float(y0) * mm, float(x1) * mm, float(y1) * mm, word)
        for x0, y0, x1, y1, word in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', out
        )
    ]
    # The window of DIN 5008 form B: 20 mm from the left, 45 mm from the top, 85 × 45 mm.
    in_window = [w for x0, y0, x1, y1, w in words if x0 >= 20 and x1 <= 105 and y0 >= 45 and y1 <= 90]
    for part in ("Jo", "Bloggs", *debtor.postcode.split(), debtor.town.split()[0]):
        assert part in in_window, part
