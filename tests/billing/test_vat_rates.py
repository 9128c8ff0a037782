"""VAT rates are one dated table staff keep in the admin, seeded by a migration."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from billing.models import VatRate

pytestmark = pytest.mark.django_db


def test_the_migration_seeds_the_uk_history_and_the_eu_consumer_rates():
    assert VatRate.rate_on("GB", "standard", dt.date(2010, 12, 31)) == Decimal("17.5")
    assert VatRate.rate_on("GB", "standard", dt.date(2011, 1, 4)) == Decimal("20")
    assert VatRate.rate_on("GB", "reduced", dt.date(2026, 1, 1)) == Decimal("5")
    assert VatRate.rate_on("IE", "standard", dt.date(2026, 1, 1)) == Decimal("23")
    assert VatRate.rate_on("FI", "standard", dt.date(2024, 8, 31)) == Decimal("24")
    assert VatRate.rate_on("FI", "standard", dt.date(2024, 9, 1)) == Decimal("25.5")
    eu = set(VatRate.objects.exclude(country="GB").values_list("country", flat=True))
    assert len(eu) == 27 and "CH" not in eu


def test_billing_staff_add_a_rate_change_from_the_day_it_applies(billing_staff_client):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    response = billing_staff_client.post(
        reverse("admin:billing_vatrate_add"),
        {
            "country": "fr",
            "category": "standard",
            "valid_from": tomorrow.isoformat(),
            "rate": "21",
            "source": "Journal officiel",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    change = VatRate.objects.get(country="FR", valid_from=tomorrow)
    assert VatRate.rate_on("FR", "standard", tomorrow) == Decimal("21")
    assert VatRate.rate_on("FR", "standard", timezone.localdate()) == Decimal("20")

    # Not yet in force: it may still be corrected or withdrawn.
    page = billing_staff_client.get(reverse("admin:billing_vatrate_change", args=[change.pk]))
    assert b'name="rate"' in page.content
    response = billing_staff_client.post(reverse("admin:billing_vatrate_delete", args=[change.pk]), {"post": "yes"})
    assert response.status_code == 302 and not VatRate.objects.filter(pk=change.pk).exists()


def test_a_rate_in_force_cannot_be_changed_or_deleted(billing_staff_client):
    in_force = VatRate.objects.get(country="FR", category="standard")
    page = billing_staff_client.get(reverse("admin:billing_vatrate_change", args=[in_force.pk]))
    assert b'name="rate"' not in page.content
    assert b"add a new rate from the day the change applies" in page.content
    response = billing_staff_client.post(
        reverse("admin:billing_vatrate_change", args=[in_force.pk]),
        {"country": "FR", "category": "standard", "valid_from": "2021-07-01", "rate": "5", "source": "x"},
    )
    assert response.status_code == 403
    assert (
        billing_staff_client.post(
            reverse("admin:billing_vatrate_delete", args=[in_force.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    in_force.refresh_from_db()
    assert in_force.rate == Decimal("20")

    in_force.rate = Decimal("5")
    with pytest.raises(ValidationError, match="cannot be changed"):
        in_force.save()
    with pytest.raises(ValidationError, match="kept as the record"):
        VatRate.objects.get(pk=in_force.pk).delete()


def test_a_rate_is_a_percentage_for_a_two_letter_country(billing_staff_client):
    response = billing_staff_client.post(
        reverse("admin:billing_vatrate_add"),
        {"country": "France", "category": "standard", "valid_from": "2030-01-01", "rate": "120", "source": "x"},
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Ensure this value is less than or equal to 100" in text
    assert not VatRate.objects.filter(valid_from=dt.date(2030, 1, 1)).exists()
