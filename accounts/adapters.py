"""allauth customisation: the one place where the portal changes allauth's behaviour."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.core import context as allauth_context
from allauth.mfa.adapter import DefaultMFAAdapter
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site
from django.http import HttpRequest
from django.shortcuts import resolve_url

from accounts.correspondence import gateway
from accounts.correspondence.models import MailKind
from accounts.models import ProviderDetails
from accounts.wording import sentence_case

# Context values in allauth's emails that let the holder act as the person: sent, never archived.
_ONE_TIME_KEYS = ("activate_url", "password_reset_url", "code", "key", "token")


def trading_site(request: HttpRequest | None) -> SimpleNamespace:
    """What allauth calls the site: the provider's trading name (Provider details) and the
    portal's host, so its emails never greet people from "127.0.0.1:8000"."""
    site = get_current_site(request)
    provider = ProviderDetails.current()
    return SimpleNamespace(name=provider.display_name if provider else site.name, domain=site.domain)


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # People join a customer by invitation from its owner or from staff
        # (accounts.services.invite_contact); there is no open registration.
        return False

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        # Accountants may only use their own area (RequireMFAMiddleware); sending
        # them to the customer dashboard would only bounce them there.
        user = request.user
        if user.is_authenticated and user.is_accountant and not (user.is_staff or user.is_superuser):
            return resolve_url("accounting:home")
        return super().get_login_redirect_url(request)

    def format_email_subject(self, subject: str) -> str:
        """ "Example Hosting: Please confirm your email address", in the portal's sentence case."""
        return f"{trading_site(allauth_context.request).name}: {sentence_case(str(subject))}"

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """allauth's emails (verification, password reset, security notices) go through the gateway.

        allauth renders them with its own templates; the gateway adds the trading
        disclosures, stores the message (one-time links masked) and delivers it.
        """
        request = allauth_context.request
        ctx = {"request": request, "email": email, **context, "current_site": trading_site(request)}
        rendered = self.render_mail(template_prefix, email, ctx)  # builds a message object; sends nothing
        html = next((content for content, mime in getattr(rendered, "alternatives", []) if mime == "text/html"), "")
        text = rendered.body if rendered.content_subtype != "html" else ""
        if not text:
            text, html = html, html
        user = ctx.get("user")
        if user is None or not getattr(user, "pk", None):
            address = EmailAddress.objects.filter(email__iexact=email).select_related("user").first()
            user = address.user if address else None
        secrets = [str(ctx[key]) for key in _ONE_TIME_KEYS if ctx.get(key)]
        gateway.send_rendered(
            kind=MailKind.SECURITY,
            subject=rendered.subject,
            text=text,
            html=html,
            to=[email],
            person=user,
            template=template_prefix,
            idempotency_key=f"allauth:{template_prefix}:{uuid.uuid4()}",
            secrets=[s for s in dict.fromkeys(secrets) if s in text or s in html],
        )


# What allauth keeps of a second factor (the TOTP secret, the recovery codes' seed) would
# let anyone who reads the database, or a backup of it, make valid codes. They are kept
# encrypted under keys that live outside the database (PORTAL_MFA_KEYS).
ENCRYPTED = "fernet:"


def mfa_cipher() -> MultiFernet:
    """The first key encrypts; every key decrypts, so a new key can be put first and the
    old ones removed once ``manage.py rotate_mfa_keys`` has re-encrypted everything."""
    return MultiFernet([Fernet(key) for key in settings.PORTAL_MFA_KEYS])


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return ENCRYPTED + mfa_cipher().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        if not encrypted_text.startswith(ENCRYPTED):
            raise ValueError("An authenticator secret is stored unencrypted: run `manage.py migrate`.")
        try:
            return mfa_cipher().decrypt(encrypted_text.removeprefix(ENCRYPTED).encode()).decode()
        except InvalidToken:
            raise ValueError(
                "An authenticator secret does not decrypt with any key in PORTAL_MFA_KEYS: a key was removed "
                "before everything encrypted with it was re-encrypted (manage.py rotate_mfa_keys)."
            ) from None
