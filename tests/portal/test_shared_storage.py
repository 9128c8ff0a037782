"""Private files on S3-compatible storage shared by every machine: an invoice's PDF is
stored in the bucket, privately, and the customer's download streams it from there
through the access-checked view. Against moto's local S3."""

from __future__ import annotations

import hashlib

import boto3
import pytest
from django.urls import reverse
from moto import mock_aws

from accounts.roles import Role
from billing.delivery.pdf import store_invoice_pdf
from tests.accounts.factories import CustomerFactory, MembershipFactory, ProviderDetailsFactory
from tests.billing.factories import issued_invoice

pytestmark = pytest.mark.django_db
BUCKET = "portal-private-files"


@pytest.fixture
def s3(settings):
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-2")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": BUCKET,
                    "region_name": "eu-west-2",
                    "access_key": "portal",
                    "secret_key": "secret",
                    "default_acl": "private",
                    "querystring_auth": True,
                    "file_overwrite": False,
                },
            },
        }
        yield client  # Django's settings_changed resets default_storage on the way in and out


def test_an_invoice_pdf_lives_in_the_bucket_privately_and_downloads_through_the_portal(s3, client):
    ProviderDetailsFactory()
    customer = CustomerFactory()
    invoice = store_invoice_pdf(issued_invoice(customer))

    (stored,) = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert stored["Key"] == invoice.pdf.name
    body = s3.get_object(Bucket=BUCKET, Key=invoice.pdf.name)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == invoice.pdf_sha256
    grants = s3.get_object_acl(Bucket=BUCKET, Key=invoice.pdf.name)["Grants"]
    assert all(grant["Grantee"].get("URI", "").endswith("AllUsers") is False for grant in grants)

    client.force_login(MembershipFactory(customer=customer, role=Role.BILLING).user)
    response = client.get(reverse("billing:invoice_pdf", args=[invoice.pk]))
    assert response.status_code == 200 and response.content == body
    other = MembershipFactory(customer=CustomerFactory(), role=Role.OWNER).user
    client.force_login(other)
    assert client.get(reverse("billing:invoice_pdf", args=[invoice.pk])).status_code == 404


def test_on_one_machine_private_files_are_readable_by_the_portals_user_only(settings):
    import stat

    from accounts.correspondence.gateway import store_file

    name, _digest = store_file("billing/pdf", "INV-1.pdf", b"%PDF-1.7 test")
    path = settings.PRIVATE_STORAGE_DIR / name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
