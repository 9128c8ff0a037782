"""Logging in by email through allauth's real views: verification, reset, hashing, rate limits."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django import forms
from django.contrib.auth.hashers import make_password
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.accounts.factories import PASSWORD, MembershipFactory, UserFactory

NEW_PASSWORD = "a quite different passphrase 42"
# ACCOUNT_RATE_LIMITS["login_failed"] allows this many failures per account...
FAILED_LOGINS_ALLOWED = 5
# ...and this many per address, whichever accounts they were for.
FAILED_LOGINS_PER_ADDRESS = 20


# allauth's emails go through the mail gateway, which delivers after commit: these
# tests run in real transactions so that mail reaches the outbox as it would a person.
pytestmark = pytest.mark.django_db(transaction=True)


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
def contact(db) -> User:
    return MembershipFactory().user


def log_in(client: Client, email: str, password: str = PASSWORD, **extra) -> object:
    return client.post(reverse("account_login"), {"login": email, "password": password}, **extra)


def logged_in_user_id(client: Client) -> int | None:
    user_id = client.session.get("_auth_user_id")
    return int(user_id) if user_id is not None else None


def link_in(message: mail.EmailMessage) -> str:
    """The path of the one portal link in an email."""
    urls = re.findall(r"https?://testserver(/\S+)", message.body)
    assert len(urls) == 1, message.body
    return urls[0]


def test_contact_logs_in_with_email_and_password_and_lands_on_the_dashboard(client, contact):
    response = log_in(client, contact.email)

    assert response.status_code == 302
    assert response.url == reverse("portal:dashboard")
    assert logged_in_user_id(client) == contact.pk
    assert client.get(response.url).status_code == 200


def test_login_form_asks_for_an_email_address_and_no_username(client, db):
    form = client.get(reverse("account_login")).context["form"]

    assert set(form.fields) >= {"login", "password"}
    assert "username" not in form.fields
    assert isinstance(form.fields["login"], forms.EmailField)
    assert "username" not in {field.name for field in User._meta.get_fields()}


def test_login_email_is_case_insensitive(client, contact):
    response = log_in(client, contact.email.upper())

    assert response.status_code == 302
    assert logged_in_user_id(client) == contact.pk


def test_wrong_password_is_refused(client, contact):
    response = log_in(client, contact.email, "not the password")

    assert response.status_code == 200
    assert response.context["form"].errors
    assert logged_in_user_id(client) is None


def test_unknown_address_and_wrong_password_get_the_same_answer(client, contact):
    unknown = log_in(client, "nobody@example.org", "not the password")
    wrong = log_in(client, contact.email, "not the password")

    assert unknown.context["form"].non_field_errors() == wrong.context["form"].non_field_errors()


def test_unverified_address_gets_a_verification_email_instead_of_a_login(client, db):
    person = UserFactory(verified=False)

    response = log_in(client, person.email)

    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    assert logged_in_user_id(client) is None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [person.email]
    assert "/accounts/confirm-email/" in mail.outbox[0].body


def test_following_the_confirmation_link_verifies_the_address_and_logs_in(client, db):
    person = UserFactory(verified=False)
    log_in(client, person.email)
    confirm_path = link_in(mail.outbox[0])

    # The link shows a confirmation page; a GET alone changes nothing (mail scanners follow links).
    assert client.get(confirm_path).status_code == 200
    assert not EmailAddress.objects.filter(user=person, verified=True).exists()
    response = client.post(confirm_path)

    assert response.status_code == 302
    assert response.url == reverse("portal:dashboard")
    assert EmailAddress.objects.get(user=person, email=person.email).verified
    assert logged_in_user_id(client) == person.pk


def test_password_reset_sends_one_email_whose_link_sets_a_new_password(client, contact):
    response = client.post(reverse("account_reset_password"), {"email": contact.email})

    assert response.status_code == 302
    assert response.url == reverse("account_reset_password_done")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [contact.email]

    # allauth moves the key from the URL into the session before showing the form.
    form_page = client.get(link_in(mail.outbox[0]), follow=True)
    assert form_page.status_code == 200
    set_password_path = form_page.redirect_chain[-1][0]
    response = client.post(set_password_path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("account_reset_password_from_key_done")
    contact.refresh_from_db()
    assert contact.check_password(NEW_PASSWORD)
    assert not contact.check_password(PASSWORD)
    fresh = Client()
    assert log_in(fresh, contact.email, NEW_PASSWORD).status_code == 302
    assert logged_in_user_id(fresh) == contact.pk


def test_password_reset_link_works_once(client, contact):
    client.post(reverse("account_reset_password"), {"email": contact.email})
    reset_path = link_in(mail.outbox[0])
    set_password_path = client.get(reset_path, follow=True).redirect_chain[-1][0]
    client.post(set_password_path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    again = Client().get(reset_path, follow=True)

    assert again.context["token_fail"] is True
    contact.refresh_from_db()
    assert contact.check_password(NEW_PASSWORD)


def test_password_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(client, contact):
    unknown = client.post(reverse("account_reset_password"), {"email": "nobody@example.org"})

    assert unknown.status_code == 302
    assert mail.outbox == []

    known = Client().post(reverse("account_reset_password"), {"email": contact.email})
    assert (known.status_code, known.url) == (unknown.status_code, unknown.url)
    assert len(mail.outbox) == 1


def test_new_passwords_are_stored_with_argon2(client, contact):
    client.post(reverse("account_reset_password"), {"email": contact.email})
    set_password_path = client.get(link_in(mail.outbox[0]), follow=True).redirect_chain[-1][0]
    client.post(set_password_path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    contact.refresh_from_db()
    assert contact.password.startswith("argon2$")


def test_older_password_hash_is_upgraded_to_argon2_at_login(client, contact):
    User.objects.filter(pk=contact.pk).update(password=make_password(PASSWORD, hasher="pbkdf2_sha256"))

    assert log_in(client, contact.email).status_code == 302

    contact.refresh_from_db()
    assert contact.password.startswith("argon2$")


def test_account_refuses_even_the_right_password_after_too_many_failed_logins(client, contact):
    # Each attempt from a different address, so only the per-account limit applies.
    for attempt in range(FAILED_LOGINS_ALLOWED):
        response = log_in(client, contact.email, "guess", REMOTE_ADDR=f"198.51.100.{attempt + 1}")
        assert response.status_code == 200

    response = log_in(client, contact.email, REMOTE_ADDR="198.51.100.200")

    assert response.status_code == 200
    assert "Too many failed login attempts" in str(response.context["form"].non_field_errors())
    assert logged_in_user_id(client) is None


def test_address_is_refused_after_too_many_failed_logins_across_accounts(client, contact):
    # Credential stuffing: one address trying many accounts, existing or not.
    for attempt in range(FAILED_LOGINS_PER_ADDRESS):
        log_in(client, f"someone{attempt}@example.org", "guess")

    response = log_in(client, contact.email)

    assert response.status_code == 200
    assert logged_in_user_id(client) is None
    # Another address is not affected.
    assert log_in(Client(REMOTE_ADDR="198.51.100.7"), contact.email).status_code == 302


def test_successful_logins_do_not_count_towards_the_limit(client, contact):
    for _ in range(FAILED_LOGINS_ALLOWED + 1):
        assert log_in(Client(), contact.email).status_code == 302


def test_failures_against_other_accounts_do_not_lock_a_real_person_out_of_the_same_address(client, contact):
    for _ in range(FAILED_LOGINS_ALLOWED + 1):
        log_in(client, "nobody@example.org", "guess")  # an address with no account, from the office router
    colleague = Client()
    assert log_in(colleague, contact.email).status_code == 302
    assert logged_in_user_id(colleague) == contact.pk


def test_rate_limits_count_the_client_behind_the_proxy_not_the_proxy(client, settings, contact):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    via_proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for attempt in range(FAILED_LOGINS_PER_ADDRESS):
        log_in(client, f"someone{attempt}@example.org", "guess", HTTP_X_FORWARDED_FOR="203.0.113.66", **via_proxy)

    blocked = log_in(Client(), contact.email, HTTP_X_FORWARDED_FOR="203.0.113.66", **via_proxy)
    other_client = Client()
    allowed = log_in(other_client, contact.email, HTTP_X_FORWARDED_FOR="203.0.113.5", **via_proxy)

    assert blocked.status_code == 200
    assert allowed.status_code == 302
    assert logged_in_user_id(other_client) == contact.pk


def test_signup_is_closed(client, db):
    response = client.get(reverse("account_signup"))

    assert response.status_code == 200
    assert "account/signup_closed.html" in [template.name for template in response.templates]

    client.post(
        reverse("account_signup"),
        {"email": "newcomer@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert not User.objects.filter(email="newcomer@example.org").exists()
    assert mail.outbox == []


def test_admin_login_sends_anonymous_visitors_to_the_allauth_login(client, db):
    response = client.get(reverse("admin:login"), {"next": reverse("admin:index")})

    assert response.status_code == 302
    assert response.url == f"{reverse('account_login')}?next=%2Fadmin%2F"


def test_admin_index_leads_anonymous_visitors_to_the_allauth_login(client, db):
    response = client.get(reverse("admin:index"), follow=True)

    assert response.redirect_chain[-1] == (f"{reverse('account_login')}?next=%2Fadmin%2F", 302)
    assert response.status_code == 200


def test_logged_in_contact_gets_403_at_the_admin(client, contact):
    log_in(client, contact.email)

    response = client.get(reverse("admin:index"), follow=True)

    assert response.status_code == 403


def test_logging_out_needs_a_post(client, contact):
    log_in(client, contact.email)

    assert client.get(reverse("account_logout")).status_code == 200
    assert logged_in_user_id(client) == contact.pk
    assert client.post(reverse("account_logout")).status_code == 302
    assert logged_in_user_id(client) is None


def test_account_emails_and_pages_use_the_providers_trading_name_and_sentence_case(client, contact):
    client.post(reverse("account_reset_password"), {"email": contact.email})
    [sent] = mail.outbox
    assert sent.subject == "Example Hosting Ltd: Password reset email"
    assert "Hello from" not in sent.body and "Thank you for using" not in sent.body
    assert "testserver" not in sent.body.split("http")[0]  # greeted by name, not by host
    assert "Example Hosting" in sent.body

    page = " ".join(Client().get(reverse("account_login")).content.decode().split())
    assert "<title> Sign in · Example Hosting Ltd</title>" in page and "<h1> Sign in </h1>" in page
    assert "Sign In" not in page
