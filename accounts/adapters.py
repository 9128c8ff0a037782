"""allauth customisation: the one place where the portal changes allauth's behaviour."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # People join a customer by invitation from its owner or from staff
        # (accounts.services.invite_contact); there is no open registration.
        return False
