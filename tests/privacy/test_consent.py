"""Consents and cookies: exact wording kept, nothing optional without consent (UK GDPR Art 7; PECR reg 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from accounts import roles
from privacy.models import ConsentRecord, ProcessingRestriction
from privacy.services import consent
from tests.accounts.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

SNIPPET = '<script src="https://analytics.example/count.js" data-site="portal"></script>'
CONTEXT_PROCESSOR = "privacy.context_processors.cookie_consent"
BANNER = 'id="cookie-banner-heading"'


@pytest.fixture
def portal_pages(settings, tmp_path):
    """The portal's pages with the cookie banner and the analytics slot, as the lead wires
    them into base.html and settings (docs/privacy.md "Wiring"). A no-op once they are."""
    options = settings.TEMPLATES[0]["OPTIONS"]
    if CONTEXT_PROCESSOR not in options["context_processors"]:
        templates = [{**settings.TEMPLATES[0]}]
        templates[0]["OPTIONS"] = {**options, "context_processors": [*options["context_processors"], CONTEXT_PROCESSOR]}
        settings.TEMPLATES = templates
    base = (Path(django_settings.BASE_DIR) / "portal" / "templates" / "base.html").read_text()
    if "privacy/cookie_banner.html" not in base:
        base = base.replace(
            '<a class="skip-link" href="#main">Skip to main content</a>',
            '<a class="skip-link" href="#main">Skip to main content</a>\n  {% include "privacy/cookie_banner.html" %}',
        ).replace("{% block extra_body %}", "{{ analytics_snippet }}\n  {% block extra_body %}")
        (tmp_path / "templates").mkdir()
        (tmp_path / "templates" / "base.html").write_text(base)
        templates = [{**settings.TEMPLATES[0]}]
        templates[0]["DIRS"] = [tmp_path / "templates", *templates[0]["DIRS"]]
        settings.TEMPLATES = templates


@pytest.fixture
def analytics(settings, portal_pages):
    settings.PORTAL_ANALYTICS_SNIPPET = SNIPPET


def page(client: Client, name: str = "portal:dashboard") -> str:
    response = client.get(reverse(name))
    assert response.status_code == 200
    return response.content.decode()


# ---------------------------------------------------------------------------------------
# Consent records
# ---------------------------------------------------------------------------------------


def test_consent_record_keeps_exact_wording_version_and_method(user):
    record = consent.give_consent(
        user, "analytics_cookies", "Exact words  shown.\nLine two.", "v7", "cookie banner on /services/"
    )

    stored = ConsentRecord.objects.get(pk=record.pk)
    assert (stored.person, stored.purpose) == (user, "analytics_cookies")
    assert stored.wording == "Exact words  shown.\nLine two."
    assert stored.wording_version == "v7"
    assert stored.method == "cookie banner on /services/"
    assert stored.given_at is not None and stored.withdrawn_at is None
    assert consent.has_consent(user, "analytics_cookies")


def test_withdrawal_stamps_the_record_and_keeps_it_as_proof(user):
    consent.give_consent(user, "analytics_cookies", "Words", "v1", "consents page")

    assert consent.withdraw_consent(user, "analytics_cookies") is True
    assert consent.withdraw_consent(user, "analytics_cookies") is False  # nothing left to withdraw

    record = ConsentRecord.objects.get(person=user)
    assert record.withdrawn_at is not None and record.wording == "Words"
    assert not consent.has_consent(user, "analytics_cookies")


def test_consenting_again_to_the_same_wording_keeps_one_record(user):
    first = consent.give_consent(user, "analytics_cookies", "Words", "v1", "banner")
    again = consent.give_consent(user, "analytics_cookies", "Words", "v1", "consents page")

    assert again.pk == first.pk
    assert ConsentRecord.objects.filter(person=user).count() == 1


def test_consent_to_new_wording_closes_the_old_record(user):
    old = consent.give_consent(user, "analytics_cookies", "Old words", "v1", "banner")
    new = consent.give_consent(user, "analytics_cookies", "New words", "v2", "banner")

    old.refresh_from_db()
    assert old.withdrawn_at is not None
    assert new.withdrawn_at is None and new.wording == "New words"
    assert consent.has_consent(user, "analytics_cookies", wording_version="v2")
    assert not consent.has_consent(user, "analytics_cookies", wording_version="v1")


def test_consent_needs_the_wording(user):
    with pytest.raises(ValueError, match="wording"):
        consent.give_consent(user, "analytics_cookies", "  ", "v1", "banner")


# ---------------------------------------------------------------------------------------
# Cookies: nothing optional without configuration
# ---------------------------------------------------------------------------------------


def test_without_configuration_there_is_no_banner_and_no_optional_script(portal_pages, owner_client, client, provider):
    logged_in = page(owner_client)
    anonymous = page(client, "privacy:policies")

    for html in (logged_in, anonymous):
        assert BANNER not in html
        assert "analytics.example" not in html
    assert not ConsentRecord.objects.exists()


def test_without_configuration_only_strictly_necessary_cookies_are_set(portal_pages, owner_client, client, provider):
    response = owner_client.get(reverse("privacy:consents"))
    html = response.content.decode()

    assert "only strictly necessary cookies" in html
    assert django_settings.SESSION_COOKIE_NAME in html and django_settings.CSRF_COOKIE_NAME in html
    assert consent.CHOICE_COOKIE not in html  # no banner, so no choice to remember
    public = client.get(reverse("privacy:policies"))
    assert set(public.cookies) <= {django_settings.SESSION_COOKIE_NAME, django_settings.CSRF_COOKIE_NAME, "messages"}


def test_with_configuration_the_banner_asks_and_the_script_waits_for_consent(analytics, owner_client, owner):
    before = page(owner_client)
    assert BANNER in before
    assert consent.DEFAULT_ANALYTICS_WORDING in before
    assert SNIPPET not in before

    response = owner_client.post(reverse("privacy:cookie_choice"), {"choice": "accept", "next": "/services/"})
    assert response.status_code == 302 and response["Location"] == "/services/"

    after = page(owner_client)
    assert SNIPPET in after
    assert BANNER not in after
    record = ConsentRecord.objects.get(person=owner)
    assert record.purpose == consent.ANALYTICS_COOKIES
    assert record.wording == consent.DEFAULT_ANALYTICS_WORDING  # exactly what the banner showed
    assert record.wording_version == consent.wording_version(consent.DEFAULT_ANALYTICS_WORDING)
    assert record.method == "cookie banner on /services/"


def test_withdrawing_in_the_privacy_centre_removes_the_script(analytics, owner_client, owner):
    owner_client.post(reverse("privacy:cookie_choice"), {"choice": "accept", "next": "/"})
    assert SNIPPET in page(owner_client)

    consents_page = page(owner_client, "privacy:consents")
    assert consent.DEFAULT_ANALYTICS_WORDING in consents_page
    owner_client.post(reverse("privacy:withdraw_consent", args=[consent.ANALYTICS_COOKIES]))

    html = page(owner_client)
    assert SNIPPET not in html
    assert BANNER not in html  # a withdrawal is an answer: we do not nag
    assert ConsentRecord.objects.get(person=owner).withdrawn_at is not None


def test_declining_loads_nothing_and_records_no_consent(analytics, owner_client, owner):
    owner_client.post(reverse("privacy:cookie_choice"), {"choice": "decline", "next": "/"})

    html = page(owner_client)
    assert SNIPPET not in html and BANNER not in html
    assert not ConsentRecord.objects.filter(person=owner).exists()


def test_anonymous_choice_is_kept_in_a_necessary_cookie_and_never_loads_the_script(analytics, client, provider):
    assert BANNER in page(client, "privacy:policies")

    response = client.post(reverse("privacy:cookie_choice"), {"choice": "accept", "next": "/privacy/policies/"})

    assert response.cookies[consent.CHOICE_COOKIE].value == consent.ACCEPTED
    assert response.cookies[consent.CHOICE_COOKIE]["httponly"]
    html = page(client, "privacy:policies")
    assert BANNER not in html
    assert SNIPPET not in html  # nobody to record the consent against
    assert not ConsentRecord.objects.exists()


def test_anonymous_acceptance_is_asked_again_after_login_to_record_it(analytics, client, owner, provider):
    client.post(reverse("privacy:cookie_choice"), {"choice": "accept", "next": "/"})
    client.force_login(owner)

    html = page(client)
    assert BANNER in html and SNIPPET not in html


def test_giving_consent_from_the_consents_page_records_where(analytics, owner_client, owner):
    owner_client.post(
        reverse("privacy:cookie_choice"), {"choice": "accept", "source": "consents", "next": "/privacy/consents/"}
    )

    record = ConsentRecord.objects.get(person=owner)
    assert record.method == "privacy centre consents page on /privacy/consents/"
    assert "Withdraw my consent" in page(owner_client, "privacy:consents")


def test_new_wording_asks_again_and_stops_the_script_until_then(analytics, settings, owner_client):
    owner_client.post(reverse("privacy:cookie_choice"), {"choice": "accept", "next": "/"})
    settings.PORTAL_ANALYTICS_WORDING = "We now also measure page speed with analytics cookies."

    html = page(owner_client)
    assert SNIPPET not in html
    assert BANNER in html and "page speed" in html


def test_a_restriction_stops_the_analytics_despite_consent(analytics, owner_client, owner, customer):
    owner_client.post(reverse("privacy:cookie_choice"), {"choice": "accept", "next": "/"})
    ProcessingRestriction.objects.create(kind=ProcessingRestriction.Kind.RESTRICTION, customer=customer)

    assert SNIPPET not in page(owner_client)
    assert "restriction or objection" in page(owner_client, "privacy:consents")


def test_the_banner_refuses_to_send_a_visitor_off_site(analytics, client, provider):
    response = client.post(reverse("privacy:cookie_choice"), {"choice": "decline", "next": "https://evil.example/"})

    assert response["Location"] == reverse("portal:dashboard")


def test_the_banner_works_without_javascript(analytics, client, provider):
    html = page(client, "privacy:policies")
    start = html.index('<section class="notice cookie-banner"')
    banner = html[start : html.index("</section>", start)]

    assert 'method="post"' in banner and "csrfmiddlewaretoken" in banner
    assert "<script" not in banner


def test_consents_page_lists_only_the_persons_own_records(analytics, owner_client, owner, customer):
    colleague = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL).user
    consent.give_consent(colleague, "analytics_cookies", "Colleague's words", "v1", "banner")
    consent.give_consent(owner, "analytics_cookies", "Owner's words", "v1", "banner on /")

    html = page(owner_client, "privacy:consents")
    assert "Owner&#x27;s words" in html and "banner on /" in html
    assert "Colleague" not in html

    # Withdrawing through the page touches only one's own record.
    owner_client.post(reverse("privacy:withdraw_consent", args=["analytics_cookies"]))
    assert consent.has_consent(colleague, "analytics_cookies")


def test_consents_page_needs_login(client):
    response = client.get(reverse("privacy:consents"))

    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_context_processor_costs_no_query_without_configuration(portal_pages, rf, django_assert_num_queries, user):
    from privacy.context_processors import cookie_consent

    request = rf.get("/")
    request.user = user
    with django_assert_num_queries(0):
        assert cookie_consent(request) == {"show_cookie_banner": False, "analytics_snippet": ""}


def test_staff_member_gets_no_analytics_without_own_consent(analytics):
    staff = UserFactory(is_staff=True)
    assert not consent.analytics_allowed(staff)
