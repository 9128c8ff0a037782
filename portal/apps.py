from __future__ import annotations

from allauth.account.apps import AccountConfig
from django.apps import AppConfig


class PortalConfig(AppConfig):
    default = True  # this module also holds allauth's renamed config (below)
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal import checks  # noqa: F401  (registers the deploy checks)


class LoginAddressesConfig(AccountConfig):
    """allauth's account app under a name of its own in the admin ("Login email addresses"),
    so the admin has one "Accounts" section: ours (customers, contacts, services)."""

    verbose_name = "Login email addresses"
