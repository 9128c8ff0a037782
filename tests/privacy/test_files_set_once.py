"""The stored file reference and SHA-256 of email attachments and data exports are set once:
the model refuses a change, and a trigger refuses it to a queryset update or SQL (on
PostgreSQL and SQLite alike). The one sanctioned later change is an export's file being
cleared as it expires."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.correspondence import gateway
from accounts.correspondence.models import MailKind, MessageAttachment
from privacy.models import DataExport
from privacy.services import export as export_service
from tests.accounts.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _refused_by_the_database():
    return pytest.raises(DatabaseError, match="set once")


@pytest.fixture
def attachment(customer, provider) -> MessageAttachment:
    MembershipFactory(customer=customer)
    message = gateway.send_mail(
        kind=MailKind.SERVICE, template="staff_reply", customer=customer, idempotency_key="logs",
        context={"subject": "Logs", "body": "Attached."},
        attachments=[gateway.Attachment("log.txt", b"the real log", "text/plain")],
    )  # fmt: skip
    return message.attachments.get()


@pytest.fixture
def export(customer, owner, provider) -> DataExport:
    created = DataExport.objects.create(requested_by=owner, customer=customer)
    return export_service.build_export(created.pk)


def test_an_attachments_file_and_hash_cannot_be_changed_through_the_model(attachment):
    attachment.file = "mail/attachments/swapped.txt"
    with pytest.raises(ValidationError, match="set once"):
        attachment.save()
    attachment.refresh_from_db()
    attachment.sha256 = "0" * 64
    with pytest.raises(ValidationError, match="set once"):
        attachment.save()
    attachment.refresh_from_db()
    attachment.filename = "renamed.txt"  # other fields are not the stored file
    attachment.save()


@pytest.mark.parametrize("change", [{"file": "mail/attachments/swapped.txt"}, {"sha256": "0" * 64}, {"file": ""}])
def test_an_attachments_file_and_hash_cannot_be_changed_by_an_update(attachment, change):
    before = MessageAttachment.objects.values("file", "sha256").get(pk=attachment.pk)
    with _refused_by_the_database(), transaction.atomic():
        MessageAttachment.objects.filter(pk=attachment.pk).update(**change)
    assert MessageAttachment.objects.values("file", "sha256").get(pk=attachment.pk) == before


def test_an_attachments_file_cannot_be_changed_by_sql(attachment):
    with _refused_by_the_database(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_messageattachment SET file = %s WHERE id = %s", ["mail/x.txt", attachment.pk])
    assert MessageAttachment.objects.get(pk=attachment.pk).file.name == attachment.file.name


def test_an_exports_file_and_hash_are_set_once(export):
    assert export.status == DataExport.Status.READY and export.file.name and export.sha256
    export.file = "privacy/exports/someone-elses.zip"
    with pytest.raises(ValidationError, match="set once"):
        export.save()
    export.refresh_from_db()
    for change in ({"file": "privacy/exports/someone-elses.zip"}, {"sha256": "0" * 64}, {"file": ""}):
        with _refused_by_the_database(), transaction.atomic():
            DataExport.objects.filter(pk=export.pk).update(**change)
    with _refused_by_the_database(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE privacy_dataexport SET sha256 = %s WHERE id = %s", ["f" * 64, export.pk])
    assert DataExport.objects.values_list("file", "sha256").get(pk=export.pk) == (export.file.name, export.sha256)


def test_an_export_still_expires_and_its_file_is_cleared(export, settings):
    path = settings.PRIVATE_STORAGE_DIR / export.file.name
    DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))

    assert export_service.expire_exports() == 1

    export.refresh_from_db()
    assert (export.status, export.file.name) == (DataExport.Status.EXPIRED, "")
    assert export.sha256  # the record of what was sent stays
    assert not path.exists()
    with _refused_by_the_database(), transaction.atomic():
        DataExport.objects.filter(pk=export.pk).update(file="privacy/exports/new.zip")
