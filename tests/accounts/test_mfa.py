"""MFA through allauth's real views: required for staff and accountants, optional for customers."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from fido2.cose import ES256
from fido2.utils import websafe_encode
from fido2.webauthn import (
    Aaguid,
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
)

from accounts import roles
from accounts.models import User
from tests.accounts.factories import PASSWORD, MembershipFactory, StaffFactory, UserFactory, enable_totp


@pytest.fixture(autouse=True)
def _clean_rate_limits():
    """allauth keeps rate limits and used TOTP codes in the default cache; start each test afresh."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _provider(provider):
    """Every page footer shows the provider's details."""


@pytest.fixture
def staff(db) -> User:
    return StaffFactory()


@pytest.fixture
def accountant(db) -> User:
    person = UserFactory()
    person.groups.add(Group.objects.get(name=roles.ACCOUNTANT_GROUP))
    return person


@pytest.fixture
def contact(db) -> User:
    return MembershipFactory().user


class SoftPasskey:
    """A software security key: enough of one to drive allauth's WebAuthn views as a browser would.

    It answers the options a page hands to ``navigator.credentials``, with user presence
    and user verification (PIN or biometrics) always given.
    """

    FLAGS = AuthenticatorData.FLAG.UP | AuthenticatorData.FLAG.UV

    def __init__(self, rp_id: str = "testserver", origin: str = "http://testserver") -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(16)
        self.rp_id_hash = hashlib.sha256(rp_id.encode()).digest()
        self.origin = origin
        self.user_handle: str | None = None
        self.sign_count = 0

    def create(self, creation_options: dict) -> str:
        options = creation_options["publicKey"]
        self.user_handle = options["user"]["id"]
        client_data = CollectedClientData.create(
            type=CollectedClientData.TYPE.CREATE, challenge=options["challenge"], origin=self.origin
        )
        credential = AttestedCredentialData.create(
            Aaguid.NONE, self.credential_id, ES256.from_cryptography_key(self.private_key.public_key())
        )
        auth_data = AuthenticatorData.create(
            self.rp_id_hash, self.FLAGS | AuthenticatorData.FLAG.AT, self.sign_count, credential
        )
        return json.dumps(
            {
                "id": websafe_encode(self.credential_id),
                "rawId": websafe_encode(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": client_data.b64,
                    "attestationObject": websafe_encode(AttestationObject.create("none", auth_data, {})),
                },
                "clientExtensionResults": {"credProps": {"rk": True}},
            }
        )

    def get(self, request_options: dict) -> str:
        self.sign_count += 1
        client_data = CollectedClientData.create(
            type=CollectedClientData.TYPE.GET,
            challenge=request_options["publicKey"]["challenge"],
            origin=self.origin,
        )
        auth_data = AuthenticatorData.create(self.rp_id_hash, self.FLAGS, self.sign_count)
        signature = self.private_key.sign(auth_data + client_data.hash, ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                "id": websafe_encode(self.credential_id),
                "rawId": websafe_encode(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": client_data.b64,
                    "authenticatorData": websafe_encode(auth_data),
                    "signature": websafe_encode(signature),
                    "userHandle": self.user_handle,
                },
                "clientExtensionResults": {},
            }
        )


def totp_code(secret: str, *, offset: int = 0) -> str:
    """The code an authenticator app shows now (``offset`` gives a wrong one)."""
    period = mfa_settings.TOTP_PERIOD
    if period - time.time() % period < 1:
        time.sleep(1.1)  # don't compute a code that expires before the request is made
    value = hotp_value(secret, int(time.time()) // period)
    return format_hotp_value((value + offset) % 10**mfa_settings.TOTP_DIGITS)


def log_in(client: Client, email: str, *, next_url: str | None = None):
    url = reverse("account_login")
    if next_url:
        url = f"{url}?next={next_url}"
    return client.post(url, {"login": email, "password": PASSWORD})


def logged_in_user_id(client: Client) -> int | None:
    user_id = client.session.get("_auth_user_id")
    return int(user_id) if user_id is not None else None


def open_with_reauthentication(client: Client, url_name: str):
    """Open an MFA page: allauth first asks for the password again, then shows it."""
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_reauthenticate"))
    response = client.post(response.url, {"password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse(url_name)
    return client.get(response.url)


def post_with_reauthentication(client: Client, url_name: str, data: dict | None = None):
    """Post to an MFA page: allauth holds the request, asks for the password, then replays it."""
    response = client.post(reverse(url_name), data or {})
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_reauthenticate"))
    return client.post(response.url, {"password": PASSWORD})


def activate_totp_through_the_page(client: Client):
    page = open_with_reauthentication(client, "mfa_activate_totp")
    assert page.status_code == 200
    # The person scans the QR code (or types the secret the page shows) into an app.
    secret = page.context["form"].secret
    assert secret in page.content.decode()
    return client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})


def log_in_with_totp(client: Client, person: User, secret: str, *, next_url: str | None = None):
    response = log_in(client, person.email, next_url=next_url)
    assert response.url == reverse("mfa_authenticate")
    return client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})


# --- MFA is required for staff and accountants -------------------------------------------


@pytest.mark.parametrize("person", ["staff", "accountant"])
@pytest.mark.parametrize("url_name", ["portal:dashboard", "admin:index", "accounting:home", "accounts:profile"])
def test_person_who_must_use_mfa_is_sent_to_mfa_setup_from_every_other_page(client, request, person, url_name):
    someone = request.getfixturevalue(person)
    assert log_in(client, someone.email).status_code == 302
    assert logged_in_user_id(client) == someone.pk

    response = client.get(reverse(url_name))

    assert response.status_code == 302
    assert response.url == reverse("mfa_index")


@pytest.mark.parametrize("person", ["staff", "accountant"])
@pytest.mark.parametrize("url_name", ["mfa_index", "account_reauthenticate", "account_logout", "account_email"])
def test_person_who_must_use_mfa_can_still_reach_mfa_setup_and_logout(client, request, person, url_name):
    someone = request.getfixturevalue(person)
    log_in(client, someone.email)

    assert client.get(reverse(url_name)).status_code == 200


@pytest.mark.parametrize("person", ["staff", "accountant"])
@pytest.mark.parametrize("url_name", ["mfa_activate_totp", "mfa_add_webauthn"])
def test_person_who_must_use_mfa_can_add_an_authenticator_after_confirming_the_password(
    client, request, person, url_name
):
    someone = request.getfixturevalue(person)
    log_in(client, someone.email)

    assert open_with_reauthentication(client, url_name).status_code == 200


def test_staff_without_mfa_can_log_out(client, staff):
    log_in(client, staff.email)

    response = client.post(reverse("account_logout"))

    assert response.status_code == 302
    assert logged_in_user_id(client) is None


def test_staff_reaches_the_admin_after_activating_totp(client, staff):
    log_in(client, staff.email)

    response = activate_totp_through_the_page(client)

    assert response.status_code == 302
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()
    # Activating TOTP also generates recovery codes and shows them next.
    assert response.url == reverse("mfa_view_recovery_codes")
    assert client.get(response.url).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 200


def test_accountant_reaches_the_accounting_area_after_activating_totp(client, accountant):
    log_in(client, accountant.email)
    assert client.get(reverse("accounting:home")).url == reverse("mfa_index")

    assert activate_totp_through_the_page(client).status_code == 302

    assert client.get(reverse("accounting:home")).status_code == 200


def test_wrong_code_does_not_activate_totp(client, staff):
    log_in(client, staff.email)
    page = open_with_reauthentication(client, "mfa_activate_totp")

    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(page.context["form"].secret, offset=1)})

    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert not Authenticator.objects.filter(user=staff).exists()
    assert client.get(reverse("admin:index")).url == reverse("mfa_index")


def test_customer_contact_without_mfa_is_not_forced_to_set_it_up(client, contact):
    response = log_in(client, contact.email)

    assert response.url == reverse("portal:dashboard")
    dashboard = client.get(reverse("portal:dashboard"))
    assert dashboard.status_code == 200
    assert client.get(reverse("accounts:profile")).status_code == 200


def test_customer_contact_may_turn_on_totp(client, contact):
    log_in(client, contact.email)

    assert activate_totp_through_the_page(client).status_code == 302

    assert Authenticator.objects.filter(user=contact, type=Authenticator.Type.TOTP).exists()


# --- The MFA stage at login -------------------------------------------------------------


def test_staff_with_totp_must_enter_the_code_before_reaching_the_admin(client, staff):
    secret = enable_totp(staff)

    response = log_in(client, staff.email, next_url=reverse("admin:index"))

    assert response.status_code == 302
    assert response.url == reverse("mfa_authenticate")
    # The password alone logs nobody in.
    assert logged_in_user_id(client) is None
    assert client.get(reverse("admin:index")).status_code == 302

    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})

    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    assert logged_in_user_id(client) == staff.pk
    assert client.get(reverse("admin:index")).status_code == 200


def test_wrong_totp_code_is_refused_at_login(client, staff):
    secret = enable_totp(staff)
    log_in(client, staff.email)

    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret, offset=1)})

    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert logged_in_user_id(client) is None


def test_totp_code_cannot_be_used_twice(client, staff):
    secret = enable_totp(staff)
    code = totp_code(secret)
    log_in(client, staff.email)
    client.post(reverse("mfa_authenticate"), {"code": code})
    assert logged_in_user_id(client) == staff.pk

    other = Client()
    log_in(other, staff.email)
    response = other.post(reverse("mfa_authenticate"), {"code": code})

    assert response.status_code == 200
    assert logged_in_user_id(other) is None


def test_too_many_wrong_codes_lock_the_mfa_stage(client, staff):
    secret = enable_totp(staff)
    log_in(client, staff.email)
    for _ in range(5):  # ACCOUNT_RATE_LIMITS["login_failed"], per account
        client.post(reverse("mfa_authenticate"), {"code": totp_code(secret, offset=1)})

    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})

    assert response.status_code == 200
    assert logged_in_user_id(client) is None


def test_customer_contact_with_totp_must_enter_the_code_too(client, contact):
    secret = enable_totp(contact)

    response = log_in_with_totp(client, contact, secret)

    assert response.url == reverse("portal:dashboard")
    assert logged_in_user_id(client) == contact.pk


def test_admin_login_page_does_not_bypass_the_mfa_stage(client, staff):
    secret = enable_totp(staff)

    login_page = client.get(reverse("admin:login"), {"next": reverse("admin:index")}, follow=True)
    assert login_page.redirect_chain[-1][0].startswith(reverse("account_login"))
    response = client.post(login_page.redirect_chain[-1][0], {"login": staff.email, "password": PASSWORD})

    assert response.url == reverse("mfa_authenticate")
    assert client.get(reverse("admin:index")).status_code == 302
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert response.url == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200


# --- Accountants stay in their area ---------------------------------------------------


def test_accountant_with_mfa_lands_in_the_accounting_area(client, accountant):
    secret = enable_totp(accountant)

    response = log_in_with_totp(client, accountant, secret)

    assert response.url == reverse("accounting:home")
    assert client.get(response.url).status_code == 200


@pytest.mark.parametrize("url_name", ["portal:dashboard", "admin:index", "accounts:profile", "accounts:services"])
def test_accountant_with_mfa_is_confined_to_the_accounting_area(client, accountant, url_name):
    secret = enable_totp(accountant)
    log_in_with_totp(client, accountant, secret)

    response = client.get(reverse(url_name))

    assert response.status_code == 302
    assert response.url == reverse("accounting:home")


@pytest.mark.parametrize("url_name", ["account_email", "account_change_password", "mfa_index", "account_logout"])
def test_accountant_with_mfa_can_manage_their_login(client, accountant, url_name):
    secret = enable_totp(accountant)
    log_in_with_totp(client, accountant, secret)

    assert client.get(reverse(url_name)).status_code == 200


# --- Recovery codes and passkeys -------------------------------------------------------


def test_recovery_codes_can_be_generated_once_totp_is_active(client, staff):
    secret = enable_totp(staff)
    log_in_with_totp(client, staff, secret)

    response = post_with_reauthentication(client, "mfa_generate_recovery_codes")

    assert response.status_code == 302
    assert response.url == reverse("mfa_view_recovery_codes")
    codes = RecoveryCodes(Authenticator.objects.get(user=staff, type=Authenticator.Type.RECOVERY_CODES))
    assert len(codes.get_unused_codes()) == mfa_settings.RECOVERY_CODE_COUNT
    page = client.get(reverse("mfa_view_recovery_codes"))
    assert codes.get_unused_codes()[0] in page.content.decode()


def test_recovery_codes_cannot_be_generated_without_totp(client, contact):
    log_in(client, contact.email)

    response = post_with_reauthentication(client, "mfa_generate_recovery_codes")

    assert response.status_code == 200
    assert response.context["form"].errors
    assert not Authenticator.objects.filter(user=contact).exists()


def test_a_recovery_code_passes_the_mfa_stage_once(client, staff):
    secret = enable_totp(staff)
    log_in_with_totp(client, staff, secret)
    post_with_reauthentication(client, "mfa_generate_recovery_codes")
    code = RecoveryCodes(
        Authenticator.objects.get(user=staff, type=Authenticator.Type.RECOVERY_CODES)
    ).get_unused_codes()[0]
    client.post(reverse("account_logout"))

    phone_lost = Client()
    log_in(phone_lost, staff.email, next_url=reverse("admin:index"))
    response = phone_lost.post(reverse("mfa_authenticate"), {"code": code})

    assert response.url == reverse("admin:index")
    assert phone_lost.get(reverse("admin:index")).status_code == 200

    again = Client()
    log_in(again, staff.email)
    response = again.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 200
    assert logged_in_user_id(again) is None


def test_passkey_page_is_offered_to_a_contact(client, contact):
    log_in(client, contact.email)

    response = open_with_reauthentication(client, "mfa_add_webauthn")

    assert response.status_code == 200
    assert "webauthn" in mfa_settings.SUPPORTED_TYPES
    assert client.get(reverse("mfa_index")).status_code == 200


def add_passkey_through_the_page(client: Client, key: SoftPasskey, *, passwordless: bool = False):
    page = open_with_reauthentication(client, "mfa_add_webauthn")
    credential = key.create(page.context["js_data"]["creation_options"])
    data = {"name": "Work laptop", "credential": credential}
    if passwordless:
        data["passwordless"] = "on"
    return client.post(reverse("mfa_add_webauthn"), data)


def test_staff_meets_the_mfa_requirement_with_a_passkey_and_uses_it_at_login(client, staff):
    key = SoftPasskey()
    log_in(client, staff.email)

    response = add_passkey_through_the_page(client, key)

    assert response.status_code == 302
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.WEBAUTHN).exists()
    assert client.get(reverse("admin:index")).status_code == 200

    later = Client()
    assert log_in(later, staff.email, next_url=reverse("admin:index")).url == reverse("mfa_authenticate")
    stage = later.get(reverse("mfa_authenticate"))
    response = later.post(
        reverse("mfa_authenticate"), {"credential": key.get(stage.context["js_data"]["request_options"])}
    )

    assert response.url == reverse("admin:index")
    assert later.get(reverse("admin:index")).status_code == 200


def test_an_unregistered_key_is_refused_at_the_mfa_stage(client, staff):
    key = SoftPasskey()
    log_in(client, staff.email)
    add_passkey_through_the_page(client, key)
    stranger_key = SoftPasskey()
    stranger_key.user_handle = key.user_handle

    later = Client()
    log_in(later, staff.email)
    stage = later.get(reverse("mfa_authenticate"))
    later.post(
        reverse("mfa_authenticate"), {"credential": stranger_key.get(stage.context["js_data"]["request_options"])}
    )

    assert logged_in_user_id(later) is None


def test_staff_logs_in_with_a_passkey_alone(client, staff):
    key = SoftPasskey()
    log_in(client, staff.email)
    add_passkey_through_the_page(client, key, passwordless=True)

    later = Client()
    options = later.get(reverse("mfa_login_webauthn"), headers={"x-requested-with": "XMLHttpRequest"}).json()
    response = later.post(reverse("mfa_login_webauthn"), {"credential": key.get(options["request_options"])})

    assert response.status_code == 302
    assert logged_in_user_id(later) == staff.pk
    assert later.get(reverse("admin:index")).status_code == 200


def test_staff_with_an_unverified_address_can_sort_it_out_and_then_set_up_mfa(client, staff):
    # allauth refuses to add an authenticator while any address is unverified, so
    # the email page must stay reachable or the person could never get past setup.
    EmailAddress.objects.create(user=staff, email="old-address@example.org", verified=False, primary=False)
    log_in(client, staff.email)
    assert client.get(reverse("mfa_activate_totp")).url == reverse("mfa_index")

    response = client.post(reverse("account_email"), {"action_remove": "", "email": "old-address@example.org"})

    assert response.status_code == 302
    assert not EmailAddress.objects.filter(email="old-address@example.org").exists()
    assert activate_totp_through_the_page(client).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_authenticator_secrets_are_stored_encrypted_and_keys_rotate(staff, settings):
    """Someone who reads the database (or a backup) cannot make codes: the TOTP secret is
    encrypted with a key kept outside it; a new key can be put first and the secrets
    re-encrypted with it, after which the old key can go."""
    from allauth.mfa.models import Authenticator
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from accounts.adapters import MFAAdapter

    secret = enable_totp(staff)
    totp = Authenticator.objects.get(user=staff, type=Authenticator.Type.TOTP)
    stored = totp.data["secret"]
    assert stored.startswith("fernet:") and secret not in stored
    assert MFAAdapter().decrypt(stored) == secret

    old_keys = list(settings.PORTAL_MFA_KEYS)
    settings.PORTAL_MFA_KEYS = [Fernet.generate_key().decode(), *old_keys]
    call_command("rotate_mfa_keys", stdout=io.StringIO())
    settings.PORTAL_MFA_KEYS = settings.PORTAL_MFA_KEYS[:1]  # the old key removed
    totp.refresh_from_db()
    assert totp.data["secret"] != stored and MFAAdapter().decrypt(totp.data["secret"]) == secret
    settings.PORTAL_MFA_KEYS = old_keys  # a key that never encrypted it cannot read it
    with pytest.raises(ValueError, match="does not decrypt with any key"):
        MFAAdapter().decrypt(totp.data["secret"])


def test_the_migration_encrypts_secrets_stored_in_the_clear(staff):
    import importlib

    from allauth.mfa.models import Authenticator
    from django.apps import apps

    migration = importlib.import_module("accounts.migrations.0016_encrypt_authenticator_secrets")
    secret = enable_totp(staff)
    Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).update(data={"secret": secret})
    migration.encrypt_secrets(apps, None)
    stored = Authenticator.objects.get(user=staff, type=Authenticator.Type.TOTP).data["secret"]
    assert stored.startswith("fernet:")
    migration.decrypt_secrets(apps, None)
    assert Authenticator.objects.get(user=staff, type=Authenticator.Type.TOTP).data["secret"] == secret
