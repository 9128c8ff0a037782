"""Authenticator secrets (TOTP secrets, recovery-code seeds) are encrypted at rest with the
keys in PORTAL_MFA_KEYS: the ones already stored in the clear are encrypted here.

Written out in full (no application code imported), so it does the same on every
installation whatever the MFA adapter becomes.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.db import migrations

PREFIX = "fernet:"
# Which values of each kind of authenticator are secrets (allauth's data layout).
SECRET_FIELDS = {"totp": ("secret",), "recovery_codes": ("seed",)}


def _cipher() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.PORTAL_MFA_KEYS])


def _convert(apps, encrypting: bool) -> None:
    Authenticator = apps.get_model("mfa", "Authenticator")
    cipher = _cipher()

    def convert(value: str) -> str:
        if encrypting and not value.startswith(PREFIX):
            return PREFIX + cipher.encrypt(value.encode()).decode()
        if not encrypting and value.startswith(PREFIX):
            return cipher.decrypt(value.removeprefix(PREFIX).encode()).decode()
        return value

    for authenticator in Authenticator.objects.filter(type__in=SECRET_FIELDS):
        data = dict(authenticator.data)
        for name in SECRET_FIELDS[authenticator.type]:
            if isinstance(data.get(name), str):
                data[name] = convert(data[name])
        if isinstance(data.get("migrated_codes"), list):
            data["migrated_codes"] = [convert(code) for code in data["migrated_codes"]]
        if data != authenticator.data:
            Authenticator.objects.filter(pk=authenticator.pk).update(data=data)


def encrypt_secrets(apps, schema_editor) -> None:
    _convert(apps, encrypting=True)


def decrypt_secrets(apps, schema_editor) -> None:
    _convert(apps, encrypting=False)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0015_message_recipients"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(encrypt_secrets, decrypt_secrets)]
