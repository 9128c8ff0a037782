"""The online Reply Form asks what the paper one does, refuses incomplete answers with
the reason, shows the answers to staff, and holds the handoff when the customer asks
for documents, advice or time."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.audit import AuditEvent, System
from accounts.correspondence.models import Message
from accounts.models import LegalForm, Membership
from billing.collections.letters import handoff_wait, record_posting, send_letter
from billing.collections.models import CollectionAgency, Handoff, Letter, LetterReply
from billing.collections.reminders import run_reminders
from tests.accounts.factories import StaffFactory
from tests.billing.collections.helpers import customer, invoice_due
from tests.billing.collections.test_pages_and_admin import at, logged_in

D = dt.date
pytestmark = pytest.mark.django_db


@pytest.fixture
def claim(provider):
    """A sole trader's Letter of Claim, posted on 1 April 2026, and its owner."""
    debtor = customer(legal_form=LegalForm.SOLE_TRADER, company_number="", registered_name="Jo Bloggs")
    invoice = invoice_due(debtor, D(2026, 3, 10), amount="250.00")
    for day in range(7, 32):
        run_reminders(D(2026, 3, day), actor=System("tests"))
    staff = StaffFactory()
    with at(D(2026, 4, 1)):
        letter = send_letter(debtor, invoices=[invoice], actor=staff)
        record_posting(letter, posted_on=D(2026, 4, 1), actor=staff)
    return letter, Membership.objects.filter(customer=debtor).first(), invoice


def post(membership, letter, **data):
    return logged_in(membership).post(reverse("billing:letter_reply", args=[letter.pk]), data)


def test_the_form_asks_every_question_of_the_paper_form(claim):
    letter, owner, _ = claim
    page = logged_in(owner).get(reverse("billing:letter_reply", args=[letter.pk])).content.decode()
    for question in (
        "I agree I owe part of the debt", "I do not know whether I owe the debt", "I do not owe the debt",
        "I have already paid the debt", "I will pay the amount I owe in full", "I want to pay by instalments",
        "I am getting debt advice", "I need more time", "The agreement", "The statement of account",
        "The invoices", "Anything else", "Contact details", "Adults in the household",
        "Benefits and tax credits", "Pensions", "Home and contents", "Priority debts", "Other debts",
        "Savings and assets",
    ):  # fmt: skip
        assert question in page, question


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"response": "owe_part"}, "say how much you accept you owe"),
        ({"response": "owe_part", "amount_accepted": "5000"}, "choose \u201cI agree I owe the debt\u201d instead"),
        ({"response": "dispute"}, "You said you do not owe the debt: say why."),
        ({"response": "dont_know"}, "say which documents or information you need"),
        ({"response": "owe_all", "payment": "paid"}, "You said you have already paid: say on what day."),
        ({"response": "owe_all", "payment": "paid", "paid_on": "2026-04-09"}, "say how (for example"),
        ({"response": "owe_all", "payment": "paid", "paid_on": "2026-05-01", "paid_how": "card"},
         "The day you paid cannot be in the future."),
        ({"response": "owe_all", "payment": "instalments"}, "say how much you offer each time"),
        ({"response": "owe_all", "payment": "in_full"}, "You said you will pay in full: say by what day."),
        ({"response": "owe_all", "seeking_advice": "on"}, "You said you are getting debt advice: say from whom."),
        ({"response": "owe_all", "needs_more_time": "on"}, "You said you need more time: say until what day."),
        ({"response": "owe_all", "needs_more_time": "on", "more_time_until": "2026-12-01", "more_time_why": "ill"},
         "Ask for up to 90 days from today"),
        ({"response": "owe_all", "wants_documents": "on"}, "Say which documents you need"),
        ({"response": "owe_all", "income_earnings": "-5"}, "Amounts cannot be negative."),
        ({}, "This field is required."),
    ],
)  # fmt: skip
def test_incomplete_answers_are_refused_with_the_reason_and_nothing_is_saved(claim, data, message):
    letter, owner, _ = claim
    with at(D(2026, 4, 10)):
        refused = post(owner, letter, **data)
    assert refused.status_code == 400
    assert message in refused.content.decode().replace("&#x27;", "'").replace("&quot;", '"')
    assert not LetterReply.objects.exists()


def test_a_full_reply_is_kept_totalled_and_shown_to_staff(claim, billing_staff_client):
    letter, owner, _ = claim
    with at(D(2026, 4, 10)):
        sent = post(
            owner, letter, response="owe_part", amount_accepted="120.00", payment="instalments",
            instalment_amount="20", instalment_frequency="month", instalments_from="2026-05-01",
            seeking_advice="on", advice_from="National Debtline", wants_documents="on", documents_invoices="on",
            documents_wanted="The call recording", notes="I was in hospital in March.",
            household_adults="2", income_earnings="1400", income_benefits="250.50", spending_home="900",
            spending_food="400", other_debts="Credit card £2,000, £50 a month",
        )  # fmt: skip
    assert sent.status_code == 302
    reply = LetterReply.objects.get()
    assert reply.monthly_income == Decimal("1650.50") and reply.monthly_outgoings == Decimal("1300.00")
    assert reply.documents_list == ["the invoices", "The call recording"]

    page = billing_staff_client.get(reverse("admin:billing_letterreply_change", args=[reply.pk])).content.decode()
    for answer in ("I agree I owe part of the debt", "120.00", "I want to pay by instalments", "National Debtline",
                   "The call recording", "I was in hospital in March.", "1650.50", "Credit card £2,000",
                   "Section 4: documents and information", "Financial Statement: income each month"):  # fmt: skip
        assert answer in page, answer
    mine = logged_in(owner).get(reverse("billing:letter_reply", args=[letter.pk])).content.decode()
    assert "I want to pay by instalments" in mine and "documents asked for" in mine


def test_already_paid_with_when_and_how_is_accepted(claim):
    letter, owner, _ = claim
    with at(D(2026, 4, 10)):
        sent = post(owner, letter, response="owe_all", payment="paid", paid_on="2026-04-08", paid_how="Bank transfer",
                    paid_amount="300.00")  # fmt: skip
    assert sent.status_code == 302
    reply = LetterReply.objects.get()
    assert (reply.payment, reply.paid_on, reply.paid_how) == ("paid", D(2026, 4, 8), "Bank transfer")
    assert handoff_wait(letter).until == D(2026, 5, 1)  # paying asks for no more time


def test_asking_for_more_time_moves_the_handoff_refusal_to_the_day_after_it(claim, billing_staff_client):
    letter, owner, invoice = claim
    agency = CollectionAgency.objects.create(
        name="Northern Recoveries LLP", kind="agency", address="1 Quay St", email="a@n.example", reference="X1"
    )
    with at(D(2026, 4, 10)):
        sent = post(owner, letter, response="owe_all", needs_more_time="on", more_time_until="2026-06-20",
                    more_time_why="My advice appointment is in June")  # fmt: skip
    assert sent.status_code == 302
    handoff = {"customer": letter.customer.pk, "agency": agency.pk, "invoices": [invoice.pk]}
    with at(D(2026, 6, 15)):
        refused = billing_staff_client.post(reverse("admin:billing_handoff_add"), handoff)
        assert "not before 21 June 2026" in refused.content.decode()
        assert "asked for more time, until 20 June 2026" in refused.content.decode()
        assert not Handoff.objects.exists()
    with at(D(2026, 6, 21)):
        billing_staff_client.post(reverse("admin:billing_handoff_add"), handoff)
    assert Handoff.objects.count() == 1


def test_more_time_asked_for_sooner_than_30_days_still_waits_30_days_from_the_reply(claim):
    letter, owner, _ = claim
    with at(D(2026, 4, 20)):
        post(owner, letter, response="dont_know", wants_documents="on", documents_agreement="on")
        post(owner, letter, response="owe_all", needs_more_time="on", more_time_until="2026-04-25", more_time_why="x")
    assert LetterReply.objects.count() == 2
    # Documents asked for and not yet sent: nothing may be passed on.
    assert handoff_wait(letter).until is None
    LetterReply.objects.filter(wants_documents=True).update(answered_on=D(2026, 4, 22))
    assert handoff_wait(Letter.objects.get()).until == D(2026, 5, 22)


def test_the_same_form_sent_twice_is_one_reply_and_one_email(claim):
    letter, owner, _ = claim
    emails = Message.objects.filter(direction=Message.Direction.OUTBOUND)
    before = emails.count()
    page = logged_in(owner).get(reverse("billing:letter_reply", args=[letter.pk])).content.decode()
    key = re.search(r'name="submission_key" value="([0-9a-f]{32})"', page).group(1)
    answers = {"response": "owe_all", "payment": "in_full", "pay_in_full_by": "2026-04-30", "submission_key": key}
    with at(D(2026, 4, 10)):
        first = post(owner, letter, **answers)
        again = post(owner, letter, **answers)  # a double click, or the browser sending it again
        other = post(owner, letter, **{**answers, "submission_key": "0" * 32})  # a second form: a second reply

    assert first.status_code == again.status_code == other.status_code == 302
    assert LetterReply.objects.filter(letter=letter).count() == 2
    assert LetterReply.objects.filter(submission_key=key).count() == 1
    assert AuditEvent.objects.filter(action="collections.letter_replied").count() == 2
    assert emails.count() == before + 2


def test_two_replies_cannot_share_a_forms_key(claim):
    letter, owner, _ = claim
    LetterReply.objects.create(letter=letter, submitted_by=owner.user, response="owe_all", submission_key="k" * 32)
    with pytest.raises(IntegrityError), transaction.atomic():
        LetterReply.objects.create(letter=letter, submitted_by=owner.user, response="owe_all", submission_key="k" * 32)
    LetterReply.objects.create(letter=letter, submitted_by=owner.user, response="owe_all")  # no key: no limit
    LetterReply.objects.create(letter=letter, submitted_by=owner.user, response="owe_all")
