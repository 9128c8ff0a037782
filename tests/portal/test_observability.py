"""Error reports leave without personal data: no email address, no path or query that can
carry a token, no cookies, no user, no local variables."""

from __future__ import annotations

import json

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from portal.observability import init_error_reporting, scrub


class Captured(Transport):
    def __init__(self, options=None) -> None:
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope) -> None:
        self.envelopes.append(envelope.serialize().decode(errors="replace"))


@pytest.fixture
def reported():
    transport = Captured()
    init_error_reporting("https://public@sentry.example/1", environment="test", transport=transport)
    yield transport
    sentry_sdk.init()  # no DSN: reporting off again for the other tests


def test_an_exception_is_reported_without_personal_data(reported):
    token = "-".join(("reset", "token", "123"))  # built at run time: only a local variable holds it

    def fail(customer_email="ann@customer.example", secret=token):  # locals a report must not carry
        raise ValueError(f"No invoice for {customer_email}")

    sentry_sdk.add_breadcrumb(message="looked up bob@customer.example")
    with sentry_sdk.new_scope() as scope:
        scope.set_user({"id": 7, "email": "ann@customer.example"})
        try:
            fail()
        except ValueError as exc:
            sentry_sdk.capture_exception(exc)
    sentry_sdk.flush()
    (sent,) = reported.envelopes
    assert "No invoice for [withheld]" in sent and "[withheld]" in sent
    assert "ann@customer.example" not in sent and "bob@customer.example" not in sent
    assert "reset-token-123" not in sent  # no local variables


def test_a_request_keeps_only_what_names_no_one():
    event = {
        "request": {
            "url": "https://portal.example/invitations/accept/tok-123/",
            "query_string": "next=/x",
            "cookies": {"sessionid": "abc"},
            "headers": {"User-Agent": "Mozilla", "Cookie": "sessionid=abc", "Referer": "https://x/?t=tok-123"},
            "method": "GET",
        },
        "user": {"email": "ann@customer.example"},
        "message": "Mail to ann@customer.example bounced",
    }
    cleaned = json.dumps(scrub(event))
    assert "tok-123" not in cleaned and "sessionid" not in cleaned and "ann@customer.example" not in cleaned
    assert '"method": "GET"' in cleaned and "Mozilla" in cleaned
