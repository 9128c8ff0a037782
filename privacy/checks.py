"""System check: no personal data without a declaration (core.registry, docs/privacy.md)."""

from __future__ import annotations

import re

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from core import registry

# Field names that usually hold data about a person. A false positive is cheap
# (declare it in ``not_personal`` with a reason); a miss is a privacy bug.
PERSONAL_NAME = re.compile(
    r"(^|_)(e?mail|email_address|ip|ip_address|ipv4|ipv6|address|addr|network|prefix|name|"
    r"forename|surname|postcode|post_code|zip|phone|mobile|telephone|fax|birth|dob|"
    r"notes?|message|body|comment|text|reason|instructions?)(_|$|\d)",
)
PERSONAL_TYPES = (models.EmailField, models.GenericIPAddressField, models.TextField)


def looks_personal(field: models.Field) -> bool:
    if field.is_relation or field.auto_created or isinstance(field, models.AutoField):
        return False
    return isinstance(field, PERSONAL_TYPES) or bool(PERSONAL_NAME.search(field.name))


def _check_path(model: type[models.Model], path: str, what: str, label: str, target: str | None) -> list:
    """Follow an ORM path like ``service__customer`` and check where it lands."""
    if path == "":
        if target and model._meta.label != target:
            return [checks.Error(f"{label}: {what}='' means the model is {target}, but it is not.", id="privacy.E004")]
        return []
    current = model
    parts = path.split("__")
    for index, part in enumerate(parts):
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return [
                checks.Error(
                    f"{label}: {what}={path!r}: {current._meta.label} has no field {part!r}.", id="privacy.E004"
                )
            ]
        if index < len(parts) - 1:
            if not field.is_relation:
                return [checks.Error(f"{label}: {what}={path!r}: {part!r} is not a relation.", id="privacy.E004")]
            current = field.related_model
        elif target is not None and (not field.is_relation or field.related_model._meta.label != target):
            return [checks.Error(f"{label}: {what}={path!r} does not lead to {target}.", id="privacy.E004")]
    return []


def _check_context(model: type[models.Model], path: str, label: str) -> list:
    """A context path must follow single-valued links to a field (one value per row)."""
    current = model
    parts = path.split("__")
    for index, part in enumerate(parts):
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return [
                checks.Error(
                    f"{label}: context {path!r}: {current._meta.label} has no field {part!r}.", id="privacy.E005"
                )
            ]
        if field.many_to_many or field.one_to_many or not getattr(field, "concrete", False):
            return [checks.Error(f"{label}: context {path!r}: {part!r} has many values per row.", id="privacy.E005")]
        if index < len(parts) - 1:
            if not field.is_relation:
                return [checks.Error(f"{label}: context {path!r}: {part!r} is not a relation.", id="privacy.E005")]
            current = field.related_model
    return []


def check_declaration(model: type[models.Model], declaration: registry.PersonalData) -> list:
    label = model._meta.label
    errors: list = []
    field_names = {f.name for f in model._meta.get_fields()}
    for name in (
        *declaration.fields,
        *declaration.not_personal,
        *declaration.internal,
        *(declaration.portable_fields or ()),
    ):
        if name not in field_names:
            errors.append(
                checks.Error(f"{label}: the declaration names field {name!r}, which does not exist.", id="privacy.E002")
            )
    for path in declaration.context:
        errors += _check_context(model, path, label)
    for name in declaration.erasure.replacements:
        if name not in field_names:
            errors.append(
                checks.Error(f"{label}: erasure anonymises {name!r}, which does not exist.", id="privacy.E002")
            )
    if declaration.erasure.action == registry.ErasureAction.KEEP and not declaration.erasure.reason:
        errors.append(
            checks.Error(f"{label}: erasure 'keep' needs the reason the law requires the data.", id="privacy.E005")
        )
    user_label = settings.AUTH_USER_MODEL
    if declaration.customer_path is not None:
        errors += _check_path(model, declaration.customer_path, "customer_path", label, "accounts.Customer")
    if declaration.person_path is not None:
        errors += _check_path(model, declaration.person_path, "person_path", label, user_label)
    if declaration.customer_path is None and declaration.person_path is None and not declaration.unattributed:
        errors.append(
            checks.Error(
                f"{label}: say whose data it is (customer_path or person_path), "
                "or why that cannot be known (unattributed).",
                id="privacy.E004",
            )
        )
    if declaration.unattributed and (declaration.customer_path is not None or declaration.person_path is not None):
        errors.append(
            checks.Error(f"{label}: unattributed is for rows with no customer_path or person_path.", id="privacy.E004")
        )
    errors += _check_path(model, declaration.retention.counted_from, "retention.counted_from", label, None)
    if declaration.retention.counted_from_otherwise:
        otherwise = declaration.retention.counted_from_otherwise
        errors += _check_path(model, otherwise, "retention.counted_from_otherwise", label, None)
    for path in declaration.retention.kept_with:
        errors += _check_path(model, path, "retention.kept_with", label, None)
        if not errors and registry.declaration_for(_end_of(model, path)) is None:
            errors.append(
                checks.Error(f"{label}: retention.kept_with={path!r} must lead to a declared model.", id="privacy.E004")
            )
    errors += check_belongs_to(model, declaration.belongs_to)
    return errors


def _end_of(model: type[models.Model], path: str) -> type[models.Model]:
    for part in path.split("__"):
        model = model._meta.get_field(part).related_model
    return model


def check_belongs_to(model: type[models.Model], paths: tuple[str, ...]) -> list:
    """Each ``belongs_to`` path must end at a record: a relation, one per row."""
    errors = []
    label = model._meta.label
    for path in paths:
        found = _check_path(model, path, "belongs_to", label, None)
        if found:
            errors += found
            continue
        current, field = model, None
        for part in path.split("__"):
            field = current._meta.get_field(part)
            current = field.related_model
        if not (field.many_to_one or field.one_to_one) or not getattr(field, "concrete", False):
            errors.append(
                checks.Error(
                    f"{label}: belongs_to={path!r} must follow a foreign key to one record.", id="privacy.E004"
                )
            )
    return errors


@checks.register("privacy")
def check_personal_data_declared(app_configs=None, **kwargs) -> list:
    errors: list = []
    our_apps = set(getattr(settings, "PRIVACY_REGISTRY_APPS", ("portal", "accounts", "privacy", "billing")))
    for model, declaration in registry.declared_models(apps):
        errors += check_declaration(model, declaration)
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label not in our_apps:
            continue
        exemption = registry.exemption_for(model)
        if exemption:
            errors += check_belongs_to(model, exemption.belongs_to)
            continue
        declaration = registry.declaration_for(model)
        covered = set()
        if declaration:
            covered = set(declaration.fields) | set(declaration.not_personal) | set(declaration.internal)
        for field in meta.get_fields():
            if not getattr(field, "concrete", False) or not looks_personal(field) or field.name in covered:
                continue
            if declaration is None:
                message = (
                    f"{meta.label}.{field.name} looks like personal data, but {meta.label} has no "
                    "personal-data declaration."
                )
                hint = (
                    "Decorate the model with @core.registry.personal_data(...), or with "
                    "@no_personal_data(reason) if none of its fields are about people."
                )
                errors.append(checks.Error(message, hint=hint, obj=model, id="privacy.E001"))
            else:
                message = f"{meta.label}.{field.name} looks like personal data but is not in its declaration's fields."
                hint = "Add it to fields=, or to not_personal= with the reason it is not about a person."
                errors.append(checks.Error(message, hint=hint, obj=model, id="privacy.E003"))
    return errors
