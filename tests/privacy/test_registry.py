from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models

from core import registry
from privacy.checks import check_declaration, check_personal_data_declared, looks_personal


def _isolated_model(name: str, **fields) -> type[models.Model]:
    """A throwaway model in the accounts app, removed from the app registry afterwards."""
    attrs = {"__module__": "accounts.models", "Meta": type("Meta", (), {"app_label": "accounts"}), **fields}
    return type(name, (models.Model,), attrs)


@pytest.fixture
def scratch_models():
    created: list[str] = []

    def make(name: str, **fields):
        created.append(name.lower())
        return _isolated_model(name, **fields)

    yield make
    for model_name in created:
        model = apps.all_models["accounts"].pop(model_name, None)
        if model is not None:
            registry.withdraw(model)
    apps.clear_cache()


def test_project_passes_the_registry_check():
    call_command("check")  # raises SystemCheckError on any privacy.E00x


def test_every_model_of_ours_with_personal_fields_is_declared_or_exempt():
    for model in apps.get_models():
        if model._meta.app_label not in {"accounts", "privacy", "billing", "portal"}:
            continue
        if any(looks_personal(f) for f in model._meta.concrete_fields):
            assert registry.declaration_for(model) or registry.exemption_for(model), model


def test_undeclared_model_with_an_email_field_fails_the_check_naming_model_and_field(scratch_models):
    scratch_models("Complaint", reporter_email=models.EmailField(), received=models.DateField())
    errors = [e for e in check_personal_data_declared() if e.id == "privacy.E001"]
    assert [e.msg for e in errors] == [
        "accounts.Complaint.reporter_email looks like personal data, but accounts.Complaint has no "
        "personal-data declaration."
    ]
    with pytest.raises(SystemCheckError, match=r"accounts\.Complaint\.reporter_email"):
        call_command("check")


def test_declared_model_with_an_unlisted_personal_field_fails_naming_the_field(scratch_models):
    model = scratch_models(
        "Ticket",
        customer=models.ForeignKey("accounts.Customer", on_delete=models.CASCADE),
        contact_phone=models.CharField(max_length=20),
        body=models.TextField(),
        opened=models.DateField(),
    )
    registry.declare(
        model,
        description="Support tickets",
        categories=[registry.Category.CORRESPONDENCE],
        fields=["body"],
        purpose="Support",
        lawful_basis=registry.LawfulBasis.CONTRACT,
        customer_path="customer",
        retention=registry.Retention(counted_from="opened", years=1, description="a year"),
        erasure=registry.Erasure.delete(),
    )
    messages = [e.msg for e in check_personal_data_declared() if e.id == "privacy.E003"]
    assert messages == [
        "accounts.Ticket.contact_phone looks like personal data but is not in its declaration's fields."
    ]


def test_declaration_naming_missing_fields_or_wrong_paths_is_reported(scratch_models):
    model = scratch_models(
        "Note",
        customer=models.ForeignKey("accounts.Customer", on_delete=models.CASCADE),
        text=models.TextField(),
    )
    declaration = registry.declare(
        model,
        description="Notes",
        categories=["correspondence"],
        fields=["text", "colour"],
        purpose="Notes",
        lawful_basis=registry.LawfulBasis.LEGITIMATE_INTERESTS,
        customer_path="customer__nothing",
        retention=registry.Retention(counted_from="written_on", years=1, description="a year"),
        erasure=registry.Erasure.keep(""),
    )
    messages = [e.msg for e in check_declaration(model, declaration)]
    assert "accounts.Note: the declaration names field 'colour', which does not exist." in messages
    assert any("customer_path='customer__nothing'" in m for m in messages)
    assert any("retention.counted_from='written_on'" in m for m in messages)
    assert any("erasure 'keep' needs the reason" in m for m in messages)
    assert all(isinstance(e, checks.Error) for e in check_declaration(model, declaration))


def test_customer_path_must_lead_to_a_customer(scratch_models):
    model = scratch_models(
        "Memo", user=models.ForeignKey("accounts.User", on_delete=models.CASCADE), text=models.TextField()
    )
    declaration = registry.declare(
        model,
        description="m",
        categories=["correspondence"],
        fields=["text"],
        purpose="p",
        lawful_basis="contract",
        customer_path="user",
        person_path="user",
        retention=registry.Retention(counted_from="user__date_joined", years=1, description="d"),
        erasure=registry.Erasure.delete(),
    )
    assert [e.msg for e in check_declaration(model, declaration)] == [
        "accounts.Memo: customer_path='user' does not lead to accounts.Customer."
    ]


def test_a_declaration_says_whose_data_it_is_or_why_it_cannot(scratch_models):
    model = scratch_models("Submission", email=models.EmailField(), sent_at=models.DateTimeField())
    fields = {
        "description": "s",
        "categories": ["contact"],
        "fields": ["email"],
        "purpose": "p",
        "lawful_basis": "legal_obligation",
        "retention": registry.Retention(counted_from="sent_at", days=1, description="a day"),
        "erasure": registry.Erasure.delete(),
    }
    nobody = registry.declare(model, **fields)
    assert [e.msg for e in check_declaration(model, nobody)] == [
        "accounts.Submission: say whose data it is (customer_path or person_path), "
        "or why that cannot be known (unattributed)."
    ]
    explained = registry.declare(model, unattributed="not looked up yet", **fields)
    assert check_declaration(model, explained) == []


def test_allauth_models_in_use_are_declared():
    for label in ("account.EmailAddress", "mfa.Authenticator", "accounts.User"):
        declaration = registry.declaration_for(label)
        assert declaration is not None, label
        assert declaration.person_path is not None


def test_declarations_carry_what_the_engines_need():
    """Export, erasure and retention engines read only the declarations."""
    for model, declaration in registry.declared_models(apps):
        assert declaration.categories and declaration.purpose and declaration.description
        assert declaration.retention.description
        assert declaration.customer_path is not None or declaration.person_path is not None or declaration.unattributed
        if declaration.erasure.action == registry.ErasureAction.KEEP:
            assert declaration.erasure.reason, model


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (dt.date(2026, 3, 31), dt.date(2032, 3, 31)),  # on the year end: that year
        (dt.date(2026, 4, 1), dt.date(2033, 3, 31)),  # the day after: next year end
        (dt.date(2024, 2, 29), dt.date(2030, 3, 31)),
        (dt.datetime(2025, 12, 31, 23, 59, tzinfo=dt.UTC), dt.date(2032, 3, 31)),
    ],
)
def test_retention_from_financial_year_end_counts_six_years_from_the_year_end(start, expected):
    retention = registry.Retention(counted_from="issued_at", years=6, from_financial_year_end=True, description="")
    assert retention.expires_on(start, financial_year_end=(3, 31)) == expected


def test_retention_clock_has_not_started_without_a_date():
    retention = registry.Retention(counted_from="closed_at", years=6, description="")
    assert retention.expires_on(None, financial_year_end=(3, 31)) is None
    assert retention.expires_on(dt.date(2020, 2, 29), financial_year_end=(3, 31)) == dt.date(2026, 2, 28)


def test_category_and_basis_have_human_descriptions():
    assert registry.Category("financial").description.startswith("Billing")
    assert registry.LawfulBasis.LEGAL_OBLIGATION.label == "Legal obligation (Art 6(1)(c))"


def test_a_withdrawn_declaration_is_forgotten(scratch_models):
    from core.registry import Category, Erasure, LawfulBasis, Retention, declaration_for, declare, withdraw

    model = scratch_models("Gone", note=models.TextField())
    declare(
        model,
        categories=[Category.CONTACT],
        fields=["note"],
        description="A model of one test.",
        purpose="A model of one test.",
        lawful_basis=LawfulBasis.CONTRACT,
        customer_path="",
        retention=Retention(days=1, counted_from="note", description="A day."),
        erasure=Erasure.delete(),
    )
    assert declaration_for(model) is not None
    withdraw(model)
    assert declaration_for(model) is None
