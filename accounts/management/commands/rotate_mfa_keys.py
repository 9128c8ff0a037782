"""``manage.py rotate_mfa_keys``: re-encrypt every authenticator secret with the newest key.

Rotation: put a new key first in PORTAL_MFA_KEYS (keep the old ones after it), restart,
run this, then remove the old keys.
"""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.adapters import ENCRYPTED, mfa_cipher

SECRET_FIELDS = {Authenticator.Type.TOTP: ("secret",), Authenticator.Type.RECOVERY_CODES: ("seed",)}


class Command(BaseCommand):
    help = "Re-encrypt every stored authenticator secret with the first key of PORTAL_MFA_KEYS."

    def handle(self, *args, **options) -> None:
        cipher = mfa_cipher()

        def rotate(value: str) -> str:
            return ENCRYPTED + cipher.rotate(value.removeprefix(ENCRYPTED).encode()).decode()

        rotated = 0
        with transaction.atomic():
            for authenticator in Authenticator.objects.select_for_update().filter(type__in=SECRET_FIELDS):
                data = dict(authenticator.data)
                for name in SECRET_FIELDS[authenticator.type]:
                    data[name] = rotate(data[name])
                if isinstance(data.get("migrated_codes"), list):
                    data["migrated_codes"] = [rotate(code) for code in data["migrated_codes"]]
                Authenticator.objects.filter(pk=authenticator.pk).update(data=data)
                rotated += 1
        self.stdout.write(f"Re-encrypted the secrets of {rotated} authenticator(s) with the newest key.")
