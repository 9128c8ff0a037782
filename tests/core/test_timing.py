"""Forms anyone may post with someone's address answer in the same time whoever it is."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.correspondence.models import Message
from privacy.models import DataSubjectRequest
from tests.privacy.test_requests import PDF, agent_form, public_form

pytestmark = pytest.mark.django_db

FLOOR = 5.0  # long, so that both paths are well under it; the sleeps are recorded, not slept


@pytest.fixture
def padding(settings, monkeypatch):
    """The wall time of each padded answer: the view's own time plus the sleep it added."""
    settings.PORTAL_UNIFORM_TIMING_FLOOR = FLOOR
    slept: list[float] = []
    monkeypatch.setattr("core.timing.time.sleep", slept.append)
    return slept


@pytest.mark.parametrize("form", ["public", "agent", "password_reset"])
def test_a_known_and_an_unknown_address_get_the_same_answer_in_the_same_time(padding, provider, owner, form):
    def post(address: str):
        if form == "public":
            return Client().post(reverse("privacy:public_request"), public_form(address))
        if form == "agent":
            authority = SimpleUploadedFile("authority.pdf", PDF, content_type="application/pdf")
            return Client().post(reverse("privacy:agent_request"), agent_form(address, authority))
        return Client().post(reverse("account_reset_password"), {"email": address})

    known_response = post(owner.email)
    known_sleep = padding.pop()
    unknown_response = post("nobody@unknown.example")
    unknown_sleep = padding.pop()

    assert known_response.status_code == unknown_response.status_code == 302
    assert known_response["Location"] == unknown_response["Location"]
    # Each answer was padded to the floor: what the view itself took is FLOOR - sleep, and
    # both sleeps are positive, so both answers took exactly FLOOR seconds of wall time.
    assert 0 < known_sleep < FLOOR and 0 < unknown_sleep < FLOOR
    # The known address really did more work (the padding hides a real difference).
    if form == "password_reset":
        assert any(owner.email in message.to_addresses for message in Message.objects.all())
    elif form == "agent":
        assert DataSubjectRequest.objects.filter(requester_email=owner.email).exists()


def test_a_get_is_not_padded(padding):
    Client().get(reverse("privacy:public_request"))
    assert padding == []
