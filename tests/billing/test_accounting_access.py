"""Who reaches the accountants' area and its exports, swept over every URL in it, and
what an accountant can reach elsewhere (nothing but their login settings)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts import roles
from billing.models import Accountant, AccountingExport
from privacy.models import DisclosureEntry
from tests.accounts.factories import MembershipFactory, StaffFactory, UserFactory, enable_totp
from tests.billing.accounting_helpers import export, firm, worked_month

pytestmark = pytest.mark.django_db


def _accounting_urls() -> list[tuple[str, frozenset[str]]]:
    def walk(resolver, namespace=None):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry, entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and namespace == "accounting":
                yield f"accounting:{entry.name}", frozenset(entry.pattern.regex.groupindex)

    return sorted(set(walk(get_resolver())))


ACCOUNTING_URLS = _accounting_urls()


def test_the_sweep_finds_the_accounting_urls():
    names = {name for name, _ in ACCOUNTING_URLS}
    assert {"accounting:home", "accounting:exports", "accounting:export", "accounting:export_download"} <= names


def accountant_of(accountants) -> tuple[Client, object]:
    person = UserFactory()
    person.groups.add(Group.objects.get(name=roles.ACCOUNTANT_GROUP))
    Accountant.objects.create(user=person, firm=accountants)
    enable_totp(person)
    client = Client()
    client.force_login(person)
    return client, person


def _url(name: str, kwargs: frozenset[str], made: AccountingExport) -> str:
    return reverse(name, kwargs={"export_id": made.pk} if "export_id" in kwargs else {})


@pytest.fixture
def made(provider):
    worked_month()
    return export(AccountingExport.Kind.DAY_BOOK, firm=firm())


@pytest.mark.parametrize(("name", "kwargs"), ACCOUNTING_URLS)
def test_customers_get_404_on_every_accounting_url(made, name, kwargs):
    client = Client()
    client.force_login(MembershipFactory(role=roles.Role.OWNER).user)
    assert client.get(_url(name, kwargs, made)).status_code == 404


@pytest.mark.parametrize(("name", "kwargs"), ACCOUNTING_URLS)
def test_staff_get_404_on_every_accounting_url(made, name, kwargs):
    staff = StaffFactory(is_superuser=True)
    enable_totp(staff)
    client = Client()
    client.force_login(staff)
    assert client.get(_url(name, kwargs, made)).status_code == 404


@pytest.mark.parametrize(("name", "kwargs"), ACCOUNTING_URLS)
def test_anonymous_visitors_are_sent_to_log_in(made, name, kwargs):
    response = Client().get(_url(name, kwargs, made))
    assert response.status_code == 302 and reverse("account_login") in response.url


@pytest.mark.parametrize(("name", "kwargs"), [(n, k) for n, k in ACCOUNTING_URLS if "export_id" in k])
def test_another_firms_accountant_gets_404_on_the_export(made, name, kwargs):
    client, _ = accountant_of(firm(name="Other & Partners"))
    assert client.get(_url(name, kwargs, made)).status_code == 404


@pytest.mark.parametrize(("name", "kwargs"), ACCOUNTING_URLS)
def test_the_firms_accountant_reaches_every_accounting_url(made, name, kwargs):
    client, _ = accountant_of(made.firm)
    assert client.get(_url(name, kwargs, made)).status_code == 200


@pytest.mark.parametrize(
    "url_name",
    [
        "portal:dashboard",
        "billing:invoices",
        "privacy:centre",
        "privacy:disclosures",
        "accounts:profile",
        "admin:index",
    ],
)
def test_an_accountant_reaches_nothing_else(made, url_name):
    client, _ = accountant_of(made.firm)
    response = client.get(reverse(url_name))
    assert response.status_code == 302 and response.url == reverse("accounting:home")


def test_an_accountant_makes_and_downloads_an_export_recorded_as_a_disclosure(provider):
    worked_month()
    accountants = firm()
    client, person = accountant_of(accountants)
    page = client.get(reverse("accounting:exports"))
    assert b"Sales day book" in page.content
    response = client.post(
        reverse("accounting:exports"),
        {"kind": "receipts", "format": "csv", "period": "range", "start": "2026-11-01", "end": "2026-11-30"},
    )
    made = AccountingExport.objects.get()
    assert response.url == reverse("accounting:export", kwargs={"export_id": made.pk})
    assert made.firm == accountants and made.made_by == person
    download = client.get(reverse("accounting:export_download", kwargs={"export_id": made.pk}))
    assert download.status_code == 200 and download["Cache-Control"] == "private, no-store"
    assert b"".join(download.streaming_content).startswith(b"record,date,type")
    entry = DisclosureEntry.objects.get()
    assert entry.actor == person and entry.artefact_sha256 == made.sha256


def test_a_bad_choice_is_explained_and_nothing_is_made(provider):
    client, _ = accountant_of(firm())
    response = client.post(
        reverse("accounting:exports"),
        {"kind": "aged_debtors", "format": "sage", "period": "range", "start": "2026-11-30", "end": "2026-11-01"},
    )
    assert response.status_code == 200
    assert b"comes as CSV, Excel (XLSX)" in response.content
    assert b"cannot end before it starts" in response.content
    assert not AccountingExport.objects.exists()


def test_a_large_export_is_prepared_in_the_background_with_progress(provider, django_capture_on_commit_callbacks):
    from billing.models import AccountingSettings

    worked_month()
    AccountingSettings.objects.create(background_above_rows=1)
    client, _ = accountant_of(firm())
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("accounting:exports"),
            {"kind": "day_book", "format": "csv", "period": "range", "start": "2026-11-01", "end": "2026-11-30"},
        )
    made = AccountingExport.objects.get()
    # Without a broker the task ran in-process once the request committed.
    assert made.status == AccountingExport.Status.READY and made.expected_rows == 4
    page = client.get(reverse("accounting:export", kwargs={"export_id": made.pk}))
    assert b"Ready" in page.content


def test_the_accountant_who_asked_is_emailed_a_link_when_a_background_export_is_ready(
    provider, django_capture_on_commit_callbacks, settings
):
    from accounts.correspondence.models import Message
    from billing.models import AccountingSettings

    settings.PORTAL_BASE_URL = "https://portal.example"
    worked_month()
    AccountingSettings.objects.create(background_above_rows=1)
    accountants = firm()
    client, person = accountant_of(accountants)
    _, colleague = accountant_of(accountants)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("accounting:exports"),
            {"kind": "day_book", "format": "csv", "period": "range", "start": "2026-11-01", "end": "2026-11-30"},
        )

    made = AccountingExport.objects.get()
    [mail] = Message.objects.filter(template="accounting_export_ready")
    assert mail.to_addresses == [person.email] and mail.person == person and mail.customer is None
    assert mail.kind == "billing" and mail.related_id == str(made.pk)
    assert "Your sales day book for" in mail.subject and "is ready" in mail.subject
    link = f"https://portal.example{reverse('accounting:export', kwargs={'export_id': made.pk})}"
    assert link in mail.body_text and link in mail.body_html
    # A link to the page, never the file.
    assert not mail.attachments.exists() and "download/" not in mail.body_text
    assert colleague.email not in mail.to_addresses
    # The link leads the accountant to the ready export.
    assert b"Ready" in client.get(reverse("accounting:export", kwargs={"export_id": made.pk})).content


def test_no_email_for_an_export_made_while_the_accountant_waits(provider):
    from accounts.correspondence.models import Message

    worked_month()
    client, _ = accountant_of(firm())
    client.post(
        reverse("accounting:exports"),
        {"kind": "receipts", "format": "csv", "period": "range", "start": "2026-11-01", "end": "2026-11-30"},
    )

    assert AccountingExport.objects.get().status == AccountingExport.Status.READY
    assert not Message.objects.filter(template="accounting_export_ready").exists()


def test_expired_files_are_deleted_and_no_longer_served(made):
    from django.core.files.storage import default_storage

    from billing.accounting.exports import expire_exports

    name = made.file.name
    assert expire_exports(now=made.expires_at + dt.timedelta(seconds=1)) == 1
    made.refresh_from_db()
    assert made.status == AccountingExport.Status.EXPIRED and not default_storage.exists(name)
    client, _ = accountant_of(made.firm)
    response = client.get(reverse("accounting:export_download", kwargs={"export_id": made.pk}))
    assert response.status_code == 302


def test_staff_with_the_permission_produce_exports_in_the_admin(provider):
    worked_month()
    staff = StaffFactory()
    for codename in ("view_accountingexport", "produce_accountingexport"):
        staff.user_permissions.add(Permission.objects.get(codename=codename))
    enable_totp(staff)
    client = Client()
    client.force_login(staff)
    assert b"Produce an export" in client.get(reverse("admin:billing_accountingexport_changelist")).content
    response = client.post(
        reverse("admin:billing_accountingexport_produce"),
        {"kind": "ledger_control", "format": "xlsx", "period": "range", "start": "2026-11-01", "end": "2026-11-30"},
    )
    assert response.status_code == 302
    made = AccountingExport.objects.get()
    assert made.made_by == staff and made.firm is None
    listing = client.get(reverse("admin:billing_accountingexport_changelist")).content.decode()
    assert made.filename in listing and str(staff) in listing
    download = client.get(reverse("admin:billing_accountingexport_download", args=[made.pk]))
    assert download.status_code == 200
    assert not DisclosureEntry.objects.exists()


def test_staff_without_the_permission_cannot_produce_exports(provider):
    staff = StaffFactory()
    staff.user_permissions.add(Permission.objects.get(codename="view_accountingexport"))
    enable_totp(staff)
    client = Client()
    client.force_login(staff)
    assert b"Produce an export" not in client.get(reverse("admin:billing_accountingexport_changelist")).content
    response = client.post(
        reverse("admin:billing_accountingexport_produce"),
        {"kind": "day_book", "format": "csv", "period": "range", "start": "2026-11-01", "end": "2026-11-30"},
    )
    assert response.status_code == 403
    assert not AccountingExport.objects.exists()
