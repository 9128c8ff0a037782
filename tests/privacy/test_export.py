"""The data-subject export: everything of the customer, nothing of anyone else, for the requester only."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import uuid
import zipfile

import pytest
from allauth.mfa.models import Authenticator
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import roles
from accounts.audit import System
from accounts.correspondence import gateway, inbound
from accounts.correspondence.models import MailKind
from core.registry import Category
from privacy.models import ConsentRecord, DataExport, DisclosureEntry
from privacy.services import export as export_service
from privacy.services import requests as request_services
from privacy.services import what_we_hold
from privacy.services.ledger import record_disclosure
from privacy.tasks import build_export
from tests.accounts.factories import (
    CustomerFactory,
    IPAssignmentFactory,
    MembershipFactory,
    ServiceFactory,
    StaffFactory,
    UserFactory,
    enable_totp,
)

# The statement that records how far a build has got: progress alone, while it runs.
PROGRESS_UPDATE = re.compile(r'UPDATE "privacy_dataexport" SET "progress" = %s WHERE', re.IGNORECASE)


def _zip_members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def _export_bytes(export: DataExport) -> bytes:
    with default_storage.open(export.file.name, "rb") as handle:
        return handle.read()


def _all_member_bytes(export: DataExport) -> bytes:
    """The contents of every file in the export's ZIP, run together, to search for a string."""
    with zipfile.ZipFile(io.BytesIO(_export_bytes(export))) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())


def _build(requested_by, **whose) -> DataExport:
    export = DataExport.objects.create(requested_by=requested_by, **whose)
    return export_service.build_export(export.pk)


def _everything(export: DataExport) -> tuple[bytes, dict[str, bytes]]:
    content = _export_bytes(export)
    return content, _zip_members(content)


# ---------------------------------------------------------------------------------------
# What an export contains
# ---------------------------------------------------------------------------------------


def _make_customer(number: int, sizes: dict, token: str) -> dict:
    """A customer whose every identifying string carries a unique token (no accidental substrings)."""
    tag = f"{token}c{number}x"
    customer = CustomerFactory(registered_name=f"Widgets {tag} Ltd", address_line1=f"{tag} High Street")
    strings = {customer.registered_name, customer.address_line1}
    contacts = []
    for i in range(sizes["contacts"]):
        role = roles.Role.OWNER if i == 0 else roles.Role.TECHNICAL
        user = UserFactory(email=f"p{i}-{tag}@example.org", full_name=f"Person {i} {tag}")
        MembershipFactory(customer=customer, user=user, role=role)
        contacts.append(user)
        strings |= {user.email, user.full_name}
    for s in range(sizes["services"]):
        service = ServiceFactory(customer=customer, name=f"web-{s}-{tag}")
        for a in range(sizes["ips"]):
            assignment = IPAssignmentFactory(service=service, network=f"10.{number}.{s * 8 + a}.0/29")
            strings.add(assignment.network)
    for m in range(sizes["outbound"]):
        message = gateway.send_mail(
            kind=MailKind.SERVICE,
            template="staff_reply",
            customer=customer,
            context={"subject": f"Outbound {m} {tag}", "body": f"Body of outbound {m} {tag}."},
            idempotency_key=f"{tag}-out-{m}",
        )
        strings.add(message.subject)
    for m in range(sizes["inbound"]):
        raw = (
            f"From: {contacts[0].email}\r\nTo: support@hosting.example\r\nSubject: Inbound {m} {tag}\r\n"
            f"Message-ID: <in-{m}-{tag}@example.org>\r\n\r\nHello from {tag}, message {m}.\r\n"
        ).encode()
        message = inbound.receive(raw)
        assert message.customer_id == customer.pk
        strings.add(message.subject)
    return {"customer": customer, "owner": contacts[0], "strings": strings}


customer_sizes = st.fixed_dictionaries(
    {
        "contacts": st.integers(1, 3),
        "services": st.integers(0, 3),
        "ips": st.integers(0, 2),
        "outbound": st.integers(0, 3),
        "inbound": st.integers(0, 2),
    }
)


@pytest.mark.django_db
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(population=st.lists(customer_sizes, min_size=2, max_size=4))
def test_export_holds_every_declared_category_of_the_customer_and_nothing_of_any_other(population, provider):
    with transaction.atomic():
        token = uuid.uuid4().hex[:10]
        made = [_make_customer(n, sizes, token) for n, sizes in enumerate(population)]
        for mine in made:
            export = _build(mine["owner"], customer=mine["customer"])
            assert export.status == DataExport.Status.READY, export.error
            content, members = _everything(export)
            texts = [content, *members.values()]
            for string in mine["strings"]:
                assert any(string.encode() in blob for blob in members.values()), string
            for other in made:
                if other is mine:
                    continue
                for string in other["strings"]:
                    assert not any(string.encode() in blob for blob in texts), string
            manifest = json.loads(members["manifest.json"])
            exported = {m["model"] for c in manifest["categories"] for m in c["models"]}
            covered = {c for _, d in what_we_hold.declarations_for(customer=True) for c in d.categories}
            # Every declaration that reaches the customer, and the owner's own records about
            # them personally (those that belong to no customer).
            personal = {d.model for _, d in what_we_hold.declarations_for(person=True) if d.customer_path is None}
            assert exported == {d.model for _, d in what_we_hold.declarations_for(customer=True)} | personal
            index = members["index.html"].decode()
            for category in covered:
                assert category.description in index
        transaction.set_rollback(True)


def test_export_files_are_json_and_csv_per_model_under_its_category(customer, owner, provider):
    service = ServiceFactory(customer=customer, name="db-01")
    IPAssignmentFactory(service=service, network="192.0.2.0/29")
    export = _build(owner, customer=customer)
    members = _zip_members(_export_bytes(export))
    rows = json.loads(members["service/accounts.ipassignment.json"])["rows"]
    assert [r["network"] for r in rows] == ["192.0.2.0/29"]
    table = list(csv.DictReader(io.StringIO(members["service/accounts.ipassignment.csv"].decode())))
    assert [r["network"] for r in table] == ["192.0.2.0/29"]
    users = json.loads(members["account/accounts.user.json"])
    assert users["purpose"] and users["lawful_basis"] == "Performance of a contract (Art 6(1)(b))"
    assert [r["email"] for r in users["rows"]] == [owner.email]


def test_password_hashes_and_totp_secrets_never_leave(customer, owner, provider):
    secret = enable_totp(owner)
    authenticator = Authenticator.objects.get(user=owner)
    export = _build(owner, customer=customer)
    content, members = _everything(export)
    owner.refresh_from_db()
    forbidden = [owner.password, owner.password.split("$")[-1], secret, json.dumps(authenticator.data)]
    for value in forbidden:
        for blob in [content, *members.values()]:
            assert value.encode() not in blob
    devices = json.loads(members["account/mfa.authenticator.json"])
    assert devices["fields"] == ["id", "type", "created_at", "last_used_at"]
    assert [d["type"] for d in devices["rows"]] == ["totp"]
    assert "password" not in json.loads(members["account/accounts.user.json"])["fields"]


def test_attachments_are_copied_into_the_zip(customer, owner, provider):
    gateway.send_mail(
        kind=MailKind.BILLING,
        template="staff_reply",
        customer=customer,
        context={"subject": "Your invoice", "body": "Attached."},
        idempotency_key="attach-1",
        attachments=[gateway.Attachment("invoice.pdf", b"%PDF-1.4 the invoice", "application/pdf")],
    )
    members = _zip_members(_export_bytes(_build(owner, customer=customer)))
    rows = json.loads(members["correspondence/accounts.messageattachment.json"])["rows"]
    assert len(rows) == 1 and rows[0]["filename"] == "invoice.pdf"
    assert members[rows[0]["file"]] == b"%PDF-1.4 the invoice"
    assert rows[0]["file"].startswith("files/")


def test_csv_cells_that_look_like_formulas_are_defused_and_json_is_exact(customer, owner, provider):
    owner.full_name = '=HYPERLINK("http://evil.example")'
    owner.save()
    members = _zip_members(_export_bytes(_build(owner, customer=customer)))
    table = list(csv.DictReader(io.StringIO(members["account/accounts.user.csv"].decode())))
    assert table[0]["full_name"] == "'" + owner.full_name
    assert json.loads(members["account/accounts.user.json"])["rows"][0]["full_name"] == owner.full_name


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("+44 113 496 0000", "+44 113 496 0000"),  # a telephone number runs nothing: unchanged
        ("-12.50", "-12.50"),
        ("+44 (0)113 496-0000", "+44 (0)113 496-0000"),
        ("=1+1", "'=1+1"),  # = and @ always start a formula
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("+A1*2", "'+A1*2"),
        ("\tTabbed", "'\tTabbed"),
        ("Plain text", "Plain text"),
    ],
)
def test_csv_protects_against_formulas_without_altering_numbers(value, cell):
    assert export_service.csv_cell(value) == cell
    assert export_service.csv_cell(value, text=False) == value  # numbers and dates are never changed


def test_phone_numbers_stay_as_they_are_the_index_says_how_cells_are_protected_and_no_storage_path_leaks(
    customer, owner, provider
):
    customer.phone = "+44 113 496 0000"
    customer.save()
    first = _build(owner, customer=customer)
    second = _build(owner, customer=customer)
    members = _zip_members(_export_bytes(second))
    [row] = list(csv.DictReader(io.StringIO(members["identity/accounts.customer.csv"].decode())))
    assert row["phone"] == "+44 113 496 0000"
    assert json.loads(members["identity/accounts.customer.json"])["rows"][0]["phone"] == "+44 113 496 0000"
    index = members["index.html"].decode()
    assert "starts with an apostrophe" in index and "+44 113 496 0000</code> cannot run anything" in index
    blob = _all_member_bytes(second)
    assert first.file.name.encode() not in blob and b"privacy/exports/" not in blob
    earlier = json.loads(members["privacy/privacy.dataexport.json"])["rows"]
    assert [r["file"] for r in earlier if r["id"] == first.pk] == [first.file.name.rsplit("/", 1)[1]]


def test_index_names_recipients_but_not_disclosures_still_withheld(customer, owner, provider):
    record_disclosure(
        recipient_kind="accountant",
        recipient="Ledger & Co Accountants",
        purpose="Annual accounts",
        legal_basis="legal_obligation",
        categories=[Category.FINANCIAL, Category.IDENTITY],
        customers=[customer],
        actor=System("tests"),
    )
    record_disclosure(
        recipient_kind="authority",
        recipient="Secret Authority Unit",
        purpose="Investigation",
        legal_basis="Investigatory Powers Act 2016 s.61",
        categories=[Category.NETWORK],
        customers=[customer],
        withheld=True,
        withheld_reason="IPA 2016 s.82",
        actor=System("tests"),
    )
    content, members = _everything(_build(owner, customer=customer))
    index = members["index.html"].decode()
    assert "Ledger &amp; Co Accountants" in index
    for blob in [content, *members.values()]:
        assert b"Secret Authority Unit" not in blob
        assert b"IPA 2016 s.82" not in blob
    manifest = json.loads(members["manifest.json"])
    identity = next(c for c in manifest["categories"] if c["category"] == "identity")
    assert identity["recipients"] == ["Ledger & Co Accountants"]


def test_a_person_export_holds_their_own_records_and_no_customer(customer, owner, provider):
    ConsentRecord.objects.create(person=owner, purpose="analytics", wording="Allow analytics cookies", method="banner")
    members = _zip_members(_export_bytes(_build(owner, person=owner)))
    consents = json.loads(members["privacy/privacy.consentrecord.json"])["rows"]
    assert [c["wording"] for c in consents] == ["Allow analytics cookies"]
    assert "identity/accounts.customer.json" not in members
    assert customer.registered_name.encode() not in b"".join(members.values())


def test_a_customer_export_leaves_out_a_contacts_requests_about_themselves(provider):
    """An owner exports the customer; a contact's privacy request about themselves and the
    staff's notes on it are the contact's data, in the contact's own export only."""
    customer = CustomerFactory()
    owner = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL)
    dsr = request_services.open_request_from_portal(technical, "erasure", "SECRET-DETAILS of my own", "uk_gdpr")
    request_services.add_note(dsr, text="STAFF-INTERNAL-NOTE", actor=System("tests"))
    export = export_service.build_export(DataExport.objects.create(requested_by=owner, customer=customer).pk)
    blob = _all_member_bytes(export)
    assert b"SECRET-DETAILS" not in blob and b"STAFF-INTERNAL-NOTE" not in blob
    own = export_service.build_export(DataExport.objects.create(requested_by=owner, person=technical.user).pk)
    assert b"SECRET-DETAILS" in _all_member_bytes(own)  # it is the contact's own data


# ---------------------------------------------------------------------------------------
# Building: background, progress, idempotence, ledger
# ---------------------------------------------------------------------------------------


def test_requesting_an_export_builds_it_after_commit_and_records_it_once(
    customer, owner, provider, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        export = export_service.request_export(requested_by=owner, customer=customer)
    assert len(callbacks) == 1
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY and export.progress == 100
    assert export.expires_at == export.finished_at + dt.timedelta(days=7)
    assert export.sha256 == hashlib.sha256(_export_bytes(export)).hexdigest()
    entry = DisclosureEntry.objects.get(recipient_kind="data_subject")
    assert entry.recipient == owner.email
    assert entry.artefact_sha256 == export.sha256
    assert entry.legal_basis == "UK GDPR Art 15/20"
    assert entry.purpose == "Data-subject access/portability export"
    assert list(entry.customers.all()) == [customer]
    assert entry.actor == owner
    assert {"identity", "account", "contact"} <= set(entry.categories)

    again = export_service.build_export(export.pk)
    assert again.sha256 == export.sha256 and again.file.name == export.file.name
    assert DisclosureEntry.objects.filter(recipient_kind="data_subject").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_task_runs_after_commit_and_twice_is_harmless(provider):
    customer = CustomerFactory()
    owner = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    export = export_service.request_export(requested_by=owner, customer=customer)
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY
    build_export.delay(export.pk)
    assert DataExport.objects.get(pk=export.pk).sha256 == export.sha256
    assert DisclosureEntry.objects.filter(recipient_kind="data_subject").count() == 1


def test_progress_is_recorded_per_declaration_and_reaches_100(customer, owner, provider):
    export = DataExport.objects.create(requested_by=owner, customer=customer)
    seen: list[int] = []

    def read_progress_after_each_progress_update(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if PROGRESS_UPDATE.match(sql):
            seen.append(DataExport.objects.get(pk=export.pk).progress)
        return result

    with connection.execute_wrapper(read_progress_after_each_progress_update):
        export = export_service.build_export(export.pk)
    assert len(seen) == len(export_service.export_sources(export))
    assert seen == sorted(seen) and seen[-1] < 100
    assert export.progress == 100


def test_a_failed_build_is_recorded_and_leaves_no_ledger_entry(customer, owner, provider, settings):
    full_disk = {**settings.STORAGES["default"], "BACKEND": "tests.storages.FullDiskStorage"}
    settings.STORAGES = {**settings.STORAGES, "default": full_disk}
    export = _build(owner, customer=customer)
    assert export.status == DataExport.Status.FAILED
    assert "disk full" in export.error
    assert not DisclosureEntry.objects.exists()


def test_a_second_request_while_one_is_pending_returns_the_same_export(customer, owner, provider):
    first = DataExport.objects.create(requested_by=owner, customer=customer)
    assert export_service.request_export(requested_by=owner, customer=customer) == first


def test_expiry_deletes_the_file(customer, owner, provider):
    export = _build(owner, customer=customer)
    name = export.file.name
    assert export_service.expire_exports(now=export.expires_at - dt.timedelta(seconds=1)) == 0
    assert export_service.expire_exports(now=export.expires_at) == 1
    export.refresh_from_db()
    assert export.status == DataExport.Status.EXPIRED and not export.file
    assert not default_storage.exists(name)


# ---------------------------------------------------------------------------------------
# The portal: request, progress, download
# ---------------------------------------------------------------------------------------


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_owner_requests_an_export_and_downloads_it(
    owner_client, owner, customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("privacy:exports"))
    assert response.status_code == 302
    export = DataExport.objects.get()
    assert export.status == DataExport.Status.READY
    page = owner_client.get(reverse("privacy:exports"))
    assert reverse("privacy:export_download", args=[export.pk]).encode() in page.content
    assert b'http-equiv="refresh"' not in page.content
    response = owner_client.get(reverse("privacy:export_download", args=[export.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith("attachment;")
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == export.sha256
    assert "index.html" in _zip_members(body)


def test_the_list_refreshes_itself_while_an_export_is_prepared(owner_client, owner, customer):
    DataExport.objects.create(requested_by=owner, customer=customer, status=DataExport.Status.RUNNING, progress=40)
    page = owner_client.get(reverse("privacy:exports"))
    assert b'<meta http-equiv="refresh" content="5">' in page.content
    assert b'value="40"' in page.content


def test_a_contact_who_is_not_an_owner_exports_their_own_data_and_not_the_customers(
    customer, provider, django_capture_on_commit_callbacks
):
    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user
    client = _client_for(technical)
    page = client.get(reverse("privacy:exports")).content.decode()
    assert "Prepare an export of your data" in page and "Prepare a new export" not in page
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("privacy:exports")).status_code == 302
    export = DataExport.objects.get()
    assert (export.customer, export.person, export.requested_by) == (None, technical, technical)
    assert export.status == DataExport.Status.READY
    assert client.get(reverse("privacy:export_download", args=[export.pk])).status_code == 200


def test_a_persons_own_export_is_theirs_to_download_whatever_their_role(customer, provider):
    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user
    staff = StaffFactory()
    export = export_service.build_export(DataExport.objects.create(requested_by=staff, person=technical).pk)
    url = reverse("privacy:export_download", args=[export.pk])
    assert _client_for(technical).get(url).status_code == 200
    owner = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    assert _client_for(owner).get(url).status_code == 404


def test_only_the_requester_may_download(customer, owner, provider):
    export = _build(owner, customer=customer)
    url = reverse("privacy:export_download", args=[export.pk])
    co_owner = MembershipFactory(customer=customer, role=roles.Role.OWNER).user
    assert _client_for(co_owner).get(url).status_code == 404
    technical = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user
    assert _client_for(technical).get(url).status_code == 404
    stranger = MembershipFactory(role=roles.Role.OWNER).user
    assert _client_for(stranger).get(url).status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert _client_for(owner).get(url).status_code == 200


def test_the_requester_acting_for_another_customer_gets_404(customer, owner, provider):
    export = _build(owner, customer=customer)
    second = CustomerFactory()
    MembershipFactory(customer=second, user=owner, role=roles.Role.OWNER)
    client = _client_for(owner)
    client.post(reverse("portal:switch_customer"), {"customer": second.pk})
    assert client.get(reverse("privacy:export_download", args=[export.pk])).status_code == 404


def test_an_expired_export_answers_410_gone(customer, owner, provider):
    export = _build(owner, customer=customer)
    url = reverse("privacy:export_download", args=[export.pk])
    client = _client_for(owner)
    DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    response = client.get(url)
    assert response.status_code == 410
    assert b"expired" in response.content
    export_service.expire_exports()
    response = client.get(url)
    assert response.status_code == 410


# ---------------------------------------------------------------------------------------
# The admin
# ---------------------------------------------------------------------------------------


def test_privacy_staff_start_an_export_and_a_colleague_may_pick_it_up(
    customer, provider, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Group

    from tests.accounts.factories import StaffFactory

    officer = StaffFactory()
    officer.groups.add(Group.objects.get(name=roles.PRIVACY_GROUP))
    enable_totp(officer)  # staff reach nothing in the admin without MFA
    client = _client_for(officer)
    assert client.get(reverse("admin:privacy_dataexport_changelist")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:privacy_dataexport_start"), {"customer": customer.pk})
    assert response.status_code == 302, response.content
    export = DataExport.objects.get()
    assert export.status == DataExport.Status.READY and export.requested_by == officer
    download = reverse("admin:privacy_dataexport_download", args=[export.pk])
    assert client.get(download).status_code == 200
    colleague = StaffFactory()
    colleague.groups.add(Group.objects.get(name=roles.PRIVACY_GROUP))
    enable_totp(colleague)
    assert _client_for(colleague).get(download).status_code == 200
    # Who opened it is recorded against the export.
    from accounts.audit import AuditEvent

    assert set(AuditEvent.objects.about(export).filter(action="file.opened").values_list("actor", flat=True)) == {
        officer.pk,
        colleague.pk,
    }
    support = StaffFactory()
    support.groups.add(Group.objects.get(name=roles.SUPPORT_GROUP))
    enable_totp(support)
    assert _client_for(support).get(download).status_code == 403


# ---------------------------------------------------------------------------------------
# Staff's internal notes
# ---------------------------------------------------------------------------------------


def test_staffs_internal_notes_never_reach_the_person(
    owner_client, owner, customer, provider, django_capture_on_commit_callbacks
):
    marker = "MARKER-possibly vexatious; legal hold in place, say nothing about it"
    membership = owner.memberships.get(customer=customer)
    about_customer = request_services.open_request_from_portal(membership, "access", "All", about_customer=True)
    about_owner = request_services.open_request_from_portal(membership, "access", "Mine")
    staff = StaffFactory(is_superuser=True, email="officer@hosting.example")
    enable_totp(staff)
    staff_client = _client_for(staff)
    for dsr in (about_customer, about_owner):
        change = reverse("admin:privacy_datasubjectrequest_change", args=[dsr.pk])
        assert staff_client.post(change, {"add_note": marker}).status_code == 302
        dsr.refresh_from_db()
        assert marker in dsr.notes  # staff keep their note

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("privacy:exports"))
    customer_export = DataExport.objects.get(customer=customer)
    personal_export = _build(owner, person=owner)
    for export in (customer_export, personal_export):
        blob = _all_member_bytes(export)
        assert b"MARKER" not in blob and b"officer@hosting.example" not in blob
        members = _zip_members(_export_bytes(export))
        requests = json.loads(members["privacy/privacy.datasubjectrequest.json"])
        assert "notes" not in requests["fields"] and requests["rows"]

    for page in (
        reverse("privacy:centre"),
        reverse("privacy:what_we_hold"),
        reverse("privacy:requests"),
        reverse("privacy:request_detail", args=[about_customer.pk]),
        reverse("privacy:request_detail", args=[about_owner.pk]),
    ):
        response = owner_client.get(page)
        assert response.status_code == 200 and b"MARKER" not in response.content, page


def test_a_declaration_naming_an_internal_field_that_does_not_exist_fails_the_check():
    from dataclasses import replace

    from core.registry import declaration_for
    from privacy.checks import check_declaration
    from privacy.models import DataSubjectRequest

    declaration = replace(declaration_for(DataSubjectRequest), internal={"staff_only_memo": "made up"})
    [error] = check_declaration(DataSubjectRequest, declaration)
    assert error.id == "privacy.E002" and "staff_only_memo" in error.msg


# ---------------------------------------------------------------------------------------
# The page and the export come from the same declarations
# ---------------------------------------------------------------------------------------


def test_the_portal_export_lists_what_the_what_we_hold_page_lists_about_you_personally_included(
    owner_client, owner, customer, provider, django_capture_on_commit_callbacks
):
    from privacy.services.consent import give_consent, record_post_mortem_instructions

    give_consent(owner, "analytics_cookies", "Allow analytics", "v1", "cookie banner on /")
    record_post_mortem_instructions(owner, "Delete everything.")
    page = owner_client.get(reverse("privacy:what_we_hold")).content.decode()
    on_page = set(re.findall(r'data-model="([^"]+)"', page))
    personal_on_page = set(re.findall(r'data-model="([^"]+)"', page.split('id="about-you-personally"')[1]))
    assert {"privacy.ConsentRecord", "privacy.PostMortemInstruction", "privacy.PolicyAcknowledgement"} <= (
        personal_on_page
    )

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("privacy:exports"))
    export = DataExport.objects.get()
    members = _zip_members(_export_bytes(export))
    manifest = json.loads(members["manifest.json"])
    in_export = {m["model"] for c in manifest["categories"] for m in c["models"]}
    personal_in_export = {
        m["model"] for c in manifest["categories"] for m in c["models"] if m["about"] == "you personally"
    }
    assert in_export == on_page and personal_in_export == personal_on_page
    consents = json.loads(members["privacy/privacy.consentrecord.json"])["rows"]
    assert [c["wording"] for c in consents] == ["Allow analytics"]
    assert "(about you personally)" in members["index.html"].decode()


def test_a_customer_export_staff_make_holds_no_one_personally(customer, owner, provider):
    ConsentRecord.objects.create(person=owner, purpose="analytics", wording="Allow analytics", method="banner")
    members = _zip_members(_export_bytes(_build(StaffFactory(), customer=customer)))
    assert "privacy/privacy.consentrecord.json" not in members


# ---------------------------------------------------------------------------------------
# Self-describing rows
# ---------------------------------------------------------------------------------------


def test_every_exported_row_carries_what_a_person_needs_to_understand_it(customer, owner, provider):
    from decimal import Decimal

    from billing.models import Payment
    from billing.workflows.settlement import receive_payment
    from tests.billing.factories import PlanFactory, SubscriptionFactory, issued_invoice

    service = ServiceFactory(customer=customer, name="web-01")
    IPAssignmentFactory(service=service, network="192.0.2.8/29")
    SubscriptionFactory(service=service, plan=PlanFactory(name="VPS Large", price=Decimal("42.00")))
    invoice = issued_invoice(customer, lines=(("Hosting", 1, "100.00"),))
    receive_payment(
        customer,
        amount=Decimal("120.00"),
        received_on=dt.date(2026, 7, 1),
        method="bank_transfer",
        actor=System("tests"),
    )
    gateway.send_mail(
        kind=MailKind.SERVICE,
        template="staff_reply",
        customer=customer,
        context={"subject": "Your server", "body": "It is ready."},
        idempotency_key="self-describing-1",
    )

    members = _zip_members(_export_bytes(_build(owner, customer=customer)))

    def rows(path):
        return json.loads(members[path])["rows"]

    [payment] = rows("financial/billing.payment.json")
    assert (payment["amount"], payment["currency"], payment["method"]) == (
        "120.00",
        "GBP",
        Payment.Method.BANK_TRANSFER,
    )
    [document] = rows("financial/billing.invoice.json")
    assert (document["number"], document["total_gross"], document["issued_on"]) == (
        invoice.number,
        str(invoice.total_gross),
        invoice.issued_on.isoformat(),
    )
    [subscription] = rows("financial/billing.subscription.json")
    assert (subscription["plan.name"], subscription["plan.price"], subscription["service.name"]) == (
        "VPS Large",
        "42.00",
        "web-01",
    )
    [membership] = rows("account/accounts.membership.json")
    assert (membership["user.email"], membership["user.full_name"]) == (owner.email, owner.full_name)
    [assignment] = rows("service/accounts.ipassignment.json")
    assert assignment["service.name"] == "web-01"
    [message] = rows("correspondence/accounts.message.json")
    assert message["body_html"] and "headers" in message and message["status"]

    header = json.loads(members["financial/billing.subscription.json"])
    assert header["portable_fields"] == ["started_on", "ended_on"]  # what the person gave us, machine-readable
    assert "plan.price" in header["context_fields"] and "plan.price" in header["fields"]
    table = list(csv.DictReader(io.StringIO(members["financial/billing.payment.csv"].decode())))
    assert table[0]["amount"] == "120.00"


def test_a_context_path_with_many_values_per_row_fails_the_check():
    from dataclasses import replace

    from accounts.models import Service
    from core.registry import declaration_for
    from privacy.checks import check_declaration

    declaration = replace(declaration_for(Service), context=("ip_assignments__network",))
    [error] = check_declaration(Service, declaration)
    assert error.id == "privacy.E005" and "many values" in error.msg


# ---------------------------------------------------------------------------------------
# Each person's own data goes in their own export
# ---------------------------------------------------------------------------------------


def test_a_customer_export_holds_for_each_contact_only_what_relates_to_the_customer(
    customer, owner, provider, django_capture_on_commit_callbacks
):
    from allauth.account.models import EmailAddress

    other = CustomerFactory()
    shared = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL, user=UserFactory(full_name="Sam Shared"))
    MembershipFactory(customer=other, user=shared.user, role=roles.Role.OWNER)
    EmailAddress.objects.create(user=shared.user, email="sam.private@home.example", verified=True)
    enable_totp(shared.user)
    enable_totp(owner)

    owner_export = _build(owner, customer=customer)
    members = _zip_members(_export_bytes(owner_export))
    blob = _all_member_bytes(owner_export)
    assert b"sam.private@home.example" not in blob
    devices = json.loads(members["account/mfa.authenticator.json"])["rows"]
    assert len(devices) == 1  # the owner's own device, about them personally; not Sam's
    logins = json.loads(members["account/accounts.user.json"])["rows"]
    assert [login["email"] for login in logins] == [owner.email]
    memberships = json.loads(members["account/accounts.membership.json"])["rows"]
    assert {m["user.full_name"] for m in memberships} == {owner.full_name, "Sam Shared"}  # who acts for it
    manifest = json.loads(members["manifest.json"])
    about = {m["model"]: m["about"] for c in manifest["categories"] for m in c["models"]}
    assert about["mfa.Authenticator"] == about["accounts.User"] == "you personally"

    own = _all_member_bytes(_build(shared.user, person=shared.user))
    assert b"sam.private@home.example" in own  # Sam's own export has it
