"""The disclosure ledger: every disclosure to a third party is recorded append-only; each entry's hash
covers the one before, so an altered, inserted or deleted entry is detected; and customers see the
entries about them, except while a duty not to tell them lasts."""

from __future__ import annotations

import datetime as dt
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, ManagementUtility, call_command
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import roles
from accounts.audit import System
from core.registry import Category, LawfulBasis
from privacy.models import DisclosureEntry
from privacy.services.ledger import check_chain, record_disclosure, verify_chain
from tests.accounts.factories import CustomerFactory, MembershipFactory, UserFactory, enable_totp

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def disclose(*customers, **overrides) -> DisclosureEntry:
    fields = {
        "recipient_kind": DisclosureEntry.Recipient.ACCOUNTANT,
        "recipient": "Ledger & Co Chartered Accountants",
        "purpose": "Year-end accounts",
        "legal_basis": LawfulBasis.LEGAL_OBLIGATION,
        "categories": [Category.FINANCIAL, Category.IDENTITY],
        "summary": "Invoices and payments for the financial year",
        "customers": customers,
        "actor": System("tests"),
        **overrides,
    }
    return record_disclosure(**fields)


def chain_of(n: int, *customers) -> list[DisclosureEntry]:
    return [disclose(*customers, summary=f"Export number {i}") for i in range(1, n + 1)]


def raw_delete(entry: DisclosureEntry) -> None:
    """Delete a row the way someone with database access would: no model code runs."""
    DisclosureEntry.customers.through.objects.filter(disclosureentry_id=entry.pk).delete()
    DisclosureEntry.objects.filter(pk=entry.pk)._raw_delete(connection.alias)


def forged(**fields) -> DisclosureEntry:
    entry = DisclosureEntry(
        recipient_kind=DisclosureEntry.Recipient.OTHER,
        recipient="Someone we never told anyone about",
        purpose="Forged",
        legal_basis="None",
        categories=[Category.CONTACT],
        created_at=timezone.now().replace(microsecond=0),
        **fields,
    )
    entry.entry_hash = entry.compute_hash()
    return entry


# ---------------------------------------------------------------------------------------
# The chain
# ---------------------------------------------------------------------------------------


def test_appended_entries_form_a_valid_chain(customer):
    first, second, third = chain_of(3, customer)

    assert [e.sequence for e in DisclosureEntry.objects.all()] == [1, 2, 3]
    assert first.previous_hash == DisclosureEntry.GENESIS
    assert second.previous_hash == first.entry_hash
    assert third.previous_hash == second.entry_hash
    assert verify_chain() is None
    report = check_chain()
    assert (report.entries, report.head_sequence, report.head_hash) == (3, 3, third.entry_hash)


def test_an_entry_records_who_what_and_for_whom(customer):
    actor = UserFactory(is_staff=True)
    other = CustomerFactory()

    entry = disclose(customer, other, actor=actor, artefact_sha256="ab" * 32, categories=["financial", "financial"])

    entry.refresh_from_db()
    assert set(entry.customers.all()) == {customer, other}
    assert entry.customer_ids == sorted([customer.pk, other.pk])
    assert entry.categories == ["financial"]
    assert entry.actor == actor
    assert entry.compute_hash() == entry.entry_hash


def test_an_empty_ledger_is_intact(db):
    assert verify_chain() is None
    assert check_chain().entries == 0


def test_verify_finds_an_altered_row(customer):
    entries = chain_of(5, customer)

    DisclosureEntry.objects.filter(pk=entries[2].pk).update(summary="x")

    problem = verify_chain()
    assert problem.sequence == 3
    assert "altered" in problem.problem


def test_verify_finds_a_deleted_row(customer):
    entries = chain_of(5, customer)

    raw_delete(entries[2])

    problem = verify_chain()
    assert problem.sequence == 3
    assert "missing" in problem.problem


def test_verify_finds_a_deleted_first_row(customer):
    entries = chain_of(3, customer)

    raw_delete(entries[0])

    assert verify_chain().sequence == 1


def test_verify_finds_a_row_appended_with_a_forged_link(customer):
    chain_of(4, customer)

    DisclosureEntry.objects.bulk_create([forged(sequence=5, previous_hash="f" * 64)])

    problem = verify_chain()
    assert problem.sequence == 5
    assert "does not follow" in problem.problem


def test_verify_finds_a_row_inserted_before_the_first(customer):
    chain_of(3, customer)

    DisclosureEntry.objects.bulk_create([forged(sequence=0, previous_hash=DisclosureEntry.GENESIS)])

    assert verify_chain().sequence == 0


def test_verify_finds_a_row_inserted_in_the_middle(customer):
    """The forger renumbers the later entries to make room and chains the forgery to #3:
    the forgery itself checks out, but the entry after it no longer follows it."""
    entries = chain_of(5, customer)
    for entry in reversed(entries[3:]):
        DisclosureEntry.objects.filter(pk=entry.pk).update(sequence=entry.sequence + 1)

    DisclosureEntry.objects.bulk_create([forged(sequence=4, previous_hash=entries[2].entry_hash)])

    problem = verify_chain()
    assert problem.sequence == 5
    assert "does not follow" in problem.problem


def test_verify_finds_a_customer_added_to_an_entry(customer):
    entries = chain_of(3, customer)

    entries[1].customers.add(CustomerFactory())

    problem = verify_chain()
    assert problem.sequence == 2
    assert "customers" in problem.problem


def test_verify_finds_a_customer_removed_from_an_entry(customer):
    entries = chain_of(3, customer)

    entries[2].customers.clear()

    assert verify_chain().sequence == 3


def test_verify_reads_the_ledger_in_batches(customer, django_assert_max_num_queries):
    chain_of(25, customer)

    with django_assert_max_num_queries(12):
        assert verify_chain(batch_size=5) is None


def test_an_entry_cannot_be_changed_or_deleted_through_the_model(customer):
    entry = disclose(customer)

    entry.summary = "Nothing to see"
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        DisclosureEntry.objects.get().delete()

    assert DisclosureEntry.objects.get().summary == "Invoices and payments for the financial year"
    assert verify_chain() is None


def test_a_withheld_disclosure_needs_its_legal_reason(customer):
    with pytest.raises(ValueError, match="legal reason"):
        disclose(customer, withheld=True, withheld_until=TODAY)

    assert not DisclosureEntry.objects.exists()


def test_categories_must_be_registry_categories(customer):
    with pytest.raises(ValueError, match="categories"):
        disclose(customer, categories=["shoe_size"])


# ---------------------------------------------------------------------------------------
# manage.py verify_ledger
# ---------------------------------------------------------------------------------------


def test_verify_ledger_reports_an_intact_ledger(customer):
    entries = chain_of(3, customer)
    out = StringIO()

    call_command("verify_ledger", stdout=out)

    assert out.getvalue().splitlines() == ["Ledger intact: 3 entries.", f"Head: 3:{entries[-1].entry_hash}"]


def test_verify_ledger_exits_1_naming_the_first_broken_entry(customer, capsys):
    entries = chain_of(4, customer)
    DisclosureEntry.objects.filter(pk=entries[1].pk).update(purpose="Marketing")
    DisclosureEntry.objects.filter(pk=entries[3].pk).update(purpose="Marketing")

    with pytest.raises(SystemExit) as exit_:
        ManagementUtility(["manage.py", "verify_ledger"]).execute()

    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "Ledger broken at entry #2: its content was altered after it was recorded." in err
    assert "#4" not in err


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("categories", 5, "categories is 5"),
        ("categories", [Category.CONTACT, 7], "categories is ['contact', 7]"),
        ("categories", {"a": 1}, "categories is {'a': 1}"),
        ("customer_ids", [1, "x"], "customer_ids is [1, 'x']"),
        ("customer_ids", "1,2", "customer_ids is '1,2'"),
        ("customer_ids", 3, "customer_ids is 3"),
    ],
)
def test_verify_ledger_reports_a_malformed_entry_as_broken_instead_of_crashing(customer, capsys, field, value, named):
    chain_of(3, customer)
    DisclosureEntry.objects.filter(sequence=2).update(**{field: value})
    assert check_chain().problem.sequence == 2  # what the admin's "Verify the chain" shows

    with pytest.raises(SystemExit) as exit_:
        ManagementUtility(["manage.py", "verify_ledger"]).execute()

    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert f"Ledger broken at entry #2: its content is malformed: {named}" in err
    assert "Traceback" not in err


def test_verify_ledger_with_a_recorded_head_notices_a_cut_short_ledger(customer):
    entries = chain_of(4, customer)
    head = f"{entries[-1].sequence}:{entries[-1].entry_hash}"
    call_command("verify_ledger", expect=head, stdout=StringIO())

    raw_delete(entries[-1])

    assert verify_chain() is None  # a chain cut short is still a chain
    with pytest.raises(CommandError, match="#4"):
        call_command("verify_ledger", expect=head, stdout=StringIO())


# ---------------------------------------------------------------------------------------
# Who we shared your data with (the customer's page)
# ---------------------------------------------------------------------------------------

URL = "/privacy/disclosures/"


def test_the_page_has_its_url_name():
    assert reverse("privacy:disclosures") == URL


def test_the_owner_sees_recipient_purpose_date_categories_and_basis(owner_client, customer):
    disclose(customer, recipient="Ledger & Co Chartered Accountants", purpose="Year-end accounts")

    response = owner_client.get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Ledger &amp; Co Chartered Accountants" in page
    assert "Year-end accounts" in page
    assert f"{timezone.localdate():%-d %b %Y}" in page
    assert Category.FINANCIAL.description in page
    assert Category.IDENTITY.description in page
    assert LawfulBasis.LEGAL_OBLIGATION.label in page


def test_the_page_shows_only_the_logged_in_customers_entries(owner_client, customer):
    other = CustomerFactory(registered_name="Rival Servers Ltd")
    disclose(other, recipient="Only About The Rival LLP")
    disclose(customer, other, recipient="Shared Export Accountants")
    disclose(customer, recipient="Our Own Solicitors")

    page = owner_client.get(URL).content.decode()

    assert "Our Own Solicitors" in page
    assert "Shared Export Accountants" in page
    assert "Only About The Rival LLP" not in page
    assert "Rival Servers" not in page  # a co-listed customer is never named


def test_withheld_entries_stay_hidden_until_the_duty_ends(owner_client, customer):
    reason = "Production order under PACE 1984 Sch 1; tipping off prohibited"
    disclose(
        customer,
        recipient="Ended Yesterday Police",
        withheld=True,
        withheld_until=TODAY - dt.timedelta(days=1),
        withheld_reason=reason,
    )
    disclose(customer, recipient="Ends Today Police", withheld=True, withheld_until=TODAY, withheld_reason=reason)
    disclose(
        customer,
        recipient="Ends Tomorrow Police",
        withheld=True,
        withheld_until=TODAY + dt.timedelta(days=1),
        withheld_reason=reason,
    )
    disclose(customer, recipient="No End Known Police", withheld=True, withheld_reason=reason)

    page = owner_client.get(URL).content.decode()

    assert "Ended Yesterday Police" in page
    assert "Ends Today Police" in page
    assert "Ends Tomorrow Police" not in page
    assert "No End Known Police" not in page
    assert "PACE" not in page  # the legal instrument stays with staff


def test_a_withheld_entry_appears_once_its_date_has_passed(customer):
    entry = disclose(customer, withheld=True, withheld_until=dt.date(2031, 3, 1), withheld_reason="Court order")
    visible_on = lambda day: list(DisclosureEntry.objects.visible_to_customer(customer, today=day))  # noqa: E731

    assert visible_on(dt.date(2031, 2, 28)) == []
    assert visible_on(dt.date(2031, 3, 1)) == [entry]


@pytest.mark.parametrize("role", [roles.Role.BILLING, roles.Role.TECHNICAL])
def test_contacts_who_are_not_owners_get_403(provider, customer, role):
    disclose(customer, recipient="Ledger & Co Chartered Accountants")
    client = Client()
    client.force_login(MembershipFactory(customer=customer, role=role).user)

    response = client.get(URL)

    assert response.status_code == 403
    assert "Ledger" not in response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(db):
    response = Client().get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_page_says_when_there_is_nothing_to_show(owner_client, customer):
    disclose(customer, withheld=True, withheld_reason="Court order")

    response = owner_client.get(URL)

    assert "There are no disclosures" in response.content.decode()


def test_the_page_runs_a_fixed_number_of_queries(owner_client, customer, django_assert_max_num_queries):
    for i in range(60):
        disclose(customer, CustomerFactory(), recipient=f"Recipient {i:02d}", actor=UserFactory())

    # 8 today, 6 of them the page shell's (session, user, membership, provider): room for one more there.
    with django_assert_max_num_queries(10):
        first = owner_client.get(URL)
    with django_assert_max_num_queries(10):
        second = owner_client.get(URL, {"page": 2})

    assert "Recipient 59" in first.content.decode()
    assert "Recipient 00" in second.content.decode()


# ---------------------------------------------------------------------------------------
# The admin
# ---------------------------------------------------------------------------------------


def test_staff_can_search_the_ledger_by_customer_and_filter_by_kind(admin_client_mfa, customer):
    disclose(customer, recipient="Ledger & Co Chartered Accountants")
    disclose(
        CustomerFactory(registered_name="Zebra Hosting Ltd"),
        recipient="Bailiffs Direct",
        recipient_kind=DisclosureEntry.Recipient.DEBT_COLLECTION,
    )
    changelist = reverse("admin:privacy_disclosureentry_changelist")

    by_customer = admin_client_mfa.get(changelist, {"q": "Zebra"}).content.decode()
    by_kind = admin_client_mfa.get(changelist, {"recipient_kind__exact": "accountant"}).content.decode()

    assert "Bailiffs Direct" in by_customer and "Ledger &amp; Co" not in by_customer
    assert "Ledger &amp; Co" in by_kind and "Bailiffs Direct" not in by_kind


def test_the_ledger_admin_can_neither_add_change_nor_delete(admin_client_mfa, customer):
    entry = disclose(customer)

    assert admin_client_mfa.get(reverse("admin:privacy_disclosureentry_add")).status_code == 403
    assert admin_client_mfa.get(reverse("admin:privacy_disclosureentry_delete", args=[entry.pk])).status_code == 403
    response = admin_client_mfa.post(
        reverse("admin:privacy_disclosureentry_change", args=[entry.pk]), {"summary": "changed"}
    )
    assert response.status_code == 403
    assert DisclosureEntry.objects.get().summary == entry.summary
    page = admin_client_mfa.get(reverse("admin:privacy_disclosureentry_change", args=[entry.pk])).content.decode()
    assert 'name="summary"' not in page
    assert entry.entry_hash in page


def test_staff_verify_the_chain_from_the_changelist(admin_client_mfa, customer):
    entries = chain_of(3, customer)
    changelist = admin_client_mfa.get(reverse("admin:privacy_disclosureentry_changelist")).content.decode()
    assert reverse("admin:privacy_disclosureentry_verify") in changelist

    intact = admin_client_mfa.get(reverse("admin:privacy_disclosureentry_verify"), follow=True)
    DisclosureEntry.objects.filter(pk=entries[1].pk).update(recipient="Someone else")
    broken = admin_client_mfa.post(
        reverse("admin:privacy_disclosureentry_changelist"),
        {"action": "verify_chain", "_selected_action": [entries[0].pk]},
        follow=True,
    )

    [intact_message] = [str(m) for m in intact.context["messages"]]
    assert intact_message.startswith("Ledger intact: 3 entries.")
    assert [str(m) for m in broken.context["messages"]] == [
        "Ledger broken at entry #2: its content was altered after it was recorded."
    ]


# ---------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
_appends = st.lists(
    st.fixed_dictionaries(
        {
            "recipient_kind": st.sampled_from(DisclosureEntry.Recipient.values),
            "recipient": _text.filter(str.strip),
            "recipient_address": _text,
            "purpose": _text.filter(str.strip),
            "legal_basis": st.sampled_from([*LawfulBasis, "Investigatory Powers Act 2016 s.61"]),
            "categories": st.lists(st.sampled_from(list(Category)), max_size=4),
            "summary": _text,
            "artefact_sha256": st.sampled_from(["", "0" * 64, "e3" * 32]),
            "customer_indexes": st.sets(st.integers(0, 2)),
            "withheld_until": st.none() | st.dates(dt.date(2020, 1, 1), dt.date(2040, 1, 1)),
            "withheld": st.booleans(),
        }
    ),
    min_size=1,
    max_size=6,
)

# field → how to make a different value for it, given the entry
_TAMPERS = {
    "recipient_kind": lambda e: "other" if e.recipient_kind != "other" else "accountant",
    "recipient": lambda e: e.recipient + "!",
    "recipient_address": lambda e: e.recipient_address + "!",
    "purpose": lambda e: e.purpose + "!",
    "legal_basis": lambda e: e.legal_basis + "!",
    "categories": lambda e: [*e.categories, "forged"],
    "customer_ids": lambda e: [*e.customer_ids, 999_999],
    "summary": lambda e: e.summary + "!",
    "artefact_sha256": lambda e: "f" * 64,
    "actor_id": lambda e: None,  # every generated entry has an actor
    "created_at": lambda e: e.created_at + dt.timedelta(seconds=1),
    "withheld": lambda e: not e.withheld,
    "withheld_until": lambda e: (e.withheld_until or dt.date(2030, 1, 1)) + dt.timedelta(days=1),
    "withheld_reason": lambda e: e.withheld_reason + "!",
    "previous_hash": lambda e: "a" * 64,
    "entry_hash": lambda e: "b" * 64,
    "sequence": lambda e: e.sequence + 1000,
    "customers": None,  # the link table, not a column
}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(appends=_appends, data=st.data())
def test_any_appends_verify_and_any_single_tamper_is_detected(db, appends, data):
    with transaction.atomic():
        customers = [CustomerFactory() for _ in range(3)]
        actor = UserFactory(is_staff=True)
        entries = []
        for append in appends:
            fields = dict(append)
            chosen = [customers[i] for i in sorted(fields.pop("customer_indexes"))]
            if fields["withheld"]:
                fields["withheld_reason"] = "Court order"
            else:
                fields["withheld_until"] = None
            entries.append(record_disclosure(**fields, customers=chosen, actor=actor))
        assert verify_chain() is None

        victim = data.draw(st.sampled_from(entries), label="entry")
        field = data.draw(st.sampled_from(sorted(_TAMPERS)), label="field")
        if field == "customers":
            victim.customers.add(CustomerFactory())
        else:
            DisclosureEntry.objects.filter(pk=victim.pk).update(**{field: _TAMPERS[field](victim)})

        problem = verify_chain()
        assert problem is not None
        assert problem.sequence == victim.sequence
        transaction.set_rollback(True)


# ---------------------------------------------------------------------------------------
# Concurrency (PostgreSQL: real row locks and parallel transactions)
# ---------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_appends_get_consecutive_sequences_and_a_valid_chain(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    customer = CustomerFactory()
    disclose(customer, summary="an existing last row: locking it alone does not serialise appends")
    threads_count, per_thread = 8, 5
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def append_some(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                disclose(customer, summary=f"thread {n} disclosure {i}")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append_some, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    total = 1 + threads_count * per_thread
    assert list(DisclosureEntry.objects.values_list("sequence", flat=True)) == list(range(1, total + 1))
    assert verify_chain() is None


def test_a_duty_with_no_known_end_is_ended_by_a_release(owner_client, customer):
    from accounts.models import User
    from privacy.services.ledger import release_withheld

    officer = User.objects.create_user("officer@hosting.example", "x" * 12, is_staff=True)
    secret = disclose(
        customer,
        recipient="National Crime Agency",
        withheld=True,
        withheld_reason="IPA 2016 s.82: disclosure of the request forbidden",
    )
    today = timezone.localdate()
    assert not DisclosureEntry.objects.visible_to_customer(customer, today=today).exists()
    release_withheld(secret, ends_on=today + dt.timedelta(days=1), reason="NCA letter lifting the duty", actor=officer)
    assert not DisclosureEntry.objects.visible_to_customer(customer, today=today).exists()
    assert list(DisclosureEntry.objects.visible_to_customer(customer, today=today + dt.timedelta(days=1))) == [secret]
    with pytest.raises(ValueError, match="already recorded"):
        release_withheld(secret, ends_on=today, reason="again", actor=officer)
    with pytest.raises(ValueError, match="never withheld"):
        release_withheld(disclose(customer), ends_on=today, reason="x", actor=officer)
    from privacy.services.ledger import verify_chain

    assert verify_chain() is None  # the ledger itself is untouched


def test_privacy_officer_records_the_end_of_a_duty_in_the_admin(customer):
    from django.contrib.auth.models import Group
    from django.test import Client

    from accounts import roles
    from tests.accounts.factories import StaffFactory

    officer = StaffFactory()
    officer.groups.add(Group.objects.get(name=roles.PRIVACY_GROUP))
    enable_totp(officer)
    client = Client()
    client.force_login(officer)
    secret = disclose(customer, withheld=True, withheld_reason="Production order: do not tell")
    changelist = reverse("admin:privacy_disclosureentry_changelist")
    selected = {"action": "release_withheld", "_selected_action": [secret.pk]}
    assert "End of a non-disclosure duty" in client.post(changelist, selected).content.decode()
    client.post(changelist, {**selected, "confirm": "yes", "ends_on": "2020-01-01", "reason": "Order discharged"})
    assert DisclosureEntry.objects.visible_to_customer(customer).get() == secret


# ---------------------------------------------------------------------------------------
# Forgery: a key and checkpoints kept outside the database
# ---------------------------------------------------------------------------------------

KEY_2025 = ("2025", "k" * 64)
KEY_2026 = ("2026", "n" * 64)


def append_forgery(**fields) -> DisclosureEntry:
    """What someone who can write the database does with the project's own code: a new
    entry on the head, with a correct sequence, link and hash."""
    last = DisclosureEntry.objects.order_by("-sequence").first()
    entry = forged(sequence=last.sequence + 1, previous_hash=last.entry_hash, **fields)
    entry.save(force_insert=True)
    return entry


def verify_ledger(*args) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_ledger", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return 1, out.getvalue(), str(exc)
    return 0, out.getvalue(), err.getvalue()


def test_without_a_key_a_forged_entry_passes_and_verify_ledger_says_so(customer):
    chain_of(2, customer)
    append_forgery()
    code, out, err = verify_ledger()
    assert code == 0 and "Ledger intact: 3 entries." in out
    assert "PORTAL_LEDGER_KEYS is not set" in err  # the operator is told what was not checked


def test_with_a_key_a_forged_entry_is_found_even_when_the_head_passed_back_matches(customer, settings):
    settings.PORTAL_LEDGER_KEYS = [KEY_2026]
    entries = chain_of(3, customer)
    assert all(e.key_id == "2026" and len(e.signature) == 64 for e in entries)
    head = f"{entries[-1].sequence}:{entries[-1].entry_hash}"
    assert verify_ledger("--expect", head)[0] == 0

    append_forgery()  # unsigned
    code, _, error = verify_ledger("--expect", head)
    assert code == 1
    assert error.startswith("Ledger broken at entry #4: it is not signed with the ledger key")


def test_with_a_key_an_entry_signed_with_another_key_is_found(customer, settings):
    settings.PORTAL_LEDGER_KEYS = [KEY_2026]
    chain_of(2, customer)
    forgery = forged(sequence=3, previous_hash=DisclosureEntry.objects.get(sequence=2).entry_hash)
    forgery.key_id = "2026"
    forgery.signature = forgery.compute_signature("a guess at the key, of some length")
    forgery.save(force_insert=True)
    code, _, error = verify_ledger()
    assert code == 1
    assert error == "Ledger broken at entry #3: its signature does not match: it was not recorded with the ledger key."


def test_a_signed_entry_altered_and_rehashed_is_found(customer, settings):
    settings.PORTAL_LEDGER_KEYS = [KEY_2026]
    only = chain_of(1, customer)[0]
    only.purpose = "Something else"
    DisclosureEntry.objects.filter(pk=only.pk).update(purpose=only.purpose, entry_hash=only.compute_hash())
    assert verify_ledger()[2].startswith("Ledger broken at entry #1: its signature does not match")


def test_keys_rotate_old_entries_verify_with_the_old_key_new_ones_are_signed_with_the_new(customer, settings):
    settings.PORTAL_LEDGER_KEYS = [KEY_2025]
    chain_of(2, customer)
    settings.PORTAL_LEDGER_KEYS = [KEY_2025, KEY_2026]
    chain_of(2, customer)
    assert list(DisclosureEntry.objects.values_list("key_id", flat=True)) == ["2025", "2025", "2026", "2026"]
    code, out, _ = verify_ledger()
    assert code == 0 and "Signatures checked: 4." in out
    settings.PORTAL_LEDGER_KEYS = [KEY_2026]  # the old key dropped too early
    code, _, error = verify_ledger()
    assert code == 1
    assert (
        error == "Ledger broken at entry #1: it is signed with the key '2025', which PORTAL_LEDGER_KEYS does not hold."
    )


def test_entries_recorded_before_the_key_was_set_are_accepted_only_below_the_configured_number(customer, settings):
    chain_of(2, customer)  # no key yet
    settings.PORTAL_LEDGER_KEYS = [KEY_2026]
    chain_of(1, customer)
    assert "#1: it is not signed" in verify_ledger()[2]
    settings.PORTAL_LEDGER_SIGNED_FROM = 3
    assert verify_ledger()[0] == 0
    append_forgery()
    assert "#4: it is not signed" in verify_ledger()[2]


def test_checkpoints_written_outside_the_database_catch_a_rewritten_or_cut_short_chain(customer, settings, tmp_path):
    settings.PORTAL_LEDGER_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    (tmp_path / "checkpoints").mkdir()
    entries = chain_of(3, customer)
    out = StringIO()
    call_command("checkpoint_ledger", stdout=out)
    (written,) = (tmp_path / "checkpoints").iterdir()
    assert f"Checkpoint written: {written}" in out.getvalue()
    assert f"sequence: 3\nhash: {entries[-1].entry_hash}\n" in written.read_text()
    code, out_text, _ = verify_ledger()
    assert code == 0 and "Checkpoints checked: 1." in out_text

    # Someone with the database rewrites the newest entry's content and re-hashes it: a
    # valid chain, but not the one the checkpoint recorded.
    raw_delete(entries[-1])
    append_forgery()
    assert verify_chain(batch_size=100) is not None  # checked against the checkpoint by default
    code, _, error = verify_ledger()
    assert code == 1
    assert error == (f"Ledger broken at entry #3: its hash differs from the one recorded earlier ({written.name}).")
    # Or cuts it short.
    raw_delete(DisclosureEntry.objects.get(sequence=3))
    code, _, error = verify_ledger()
    assert "entry #3 recorded earlier (" in error and "is gone (the ledger was cut short)" in error


def test_a_broken_chain_is_never_checkpointed(customer, tmp_path):
    entries = chain_of(2, customer)
    DisclosureEntry.objects.filter(pk=entries[0].pk).update(purpose="Marketing")
    with pytest.raises(CommandError, match="Not checkpointed: Ledger broken at entry #1"):
        call_command("checkpoint_ledger", "--dir", str(tmp_path), stdout=StringIO())
    assert list(tmp_path.iterdir()) == []


def test_checkpoints_are_new_files_never_overwritten(customer, tmp_path):
    chain_of(1, customer)
    call_command("checkpoint_ledger", "--dir", str(tmp_path), stdout=StringIO())
    call_command("checkpoint_ledger", "--dir", str(tmp_path), stdout=StringIO())
    assert len(list(tmp_path.iterdir())) == 2


def test_an_unreadable_checkpoint_is_reported_not_ignored(customer, settings, tmp_path):
    settings.PORTAL_LEDGER_CHECKPOINT_DIR = str(tmp_path)
    chain_of(1, customer)
    (tmp_path / "ledger-checkpoint-000000000001-20261206T000000Z.txt").write_text("sequence: one\n")
    code, _, error = verify_ledger()
    assert code == 1
    assert error.startswith("Ledger cannot be verified: the checkpoint ledger-checkpoint-000000000001")


def test_the_daily_task_writes_a_checkpoint(customer, settings, tmp_path):
    from privacy.tasks import checkpoint_ledger

    assert checkpoint_ledger.delay().get() == "no checkpoint directory"
    settings.PORTAL_LEDGER_CHECKPOINT_DIR = str(tmp_path)
    chain_of(2, customer)
    written = checkpoint_ledger.delay().get()
    assert written.startswith(str(tmp_path)) and "sequence: 2" in Path(written).read_text()
