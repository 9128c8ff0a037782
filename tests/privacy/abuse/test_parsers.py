"""Each format read from realistic samples; malformed reports say what is wrong."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from privacy.abuse import parsers
from tests.privacy.abuse import samples

NOW = dt.datetime(2026, 3, 4, tzinfo=dt.UTC)


@pytest.mark.parametrize("category", sorted(samples.PER_CATEGORY))
def test_a_xarf_v4_report_of_every_category_is_read_and_valid(category):
    sample = samples.PER_CATEGORY[category]()

    [report] = parsers.parse_email(samples.xarf_email(sample))
    parsers.check_limits(report, now=NOW)

    assert report.problems == []
    assert report.format == "xarf4"
    assert (report.category, report.type) == (sample["category"], sample["type"])
    assert report.source_ip == "198.51.100.25"
    assert report.event_time == dt.datetime(2026, 3, 3, 10, 14, tzinfo=dt.UTC)
    assert report.reporter_org == "Mailbox Example"
    assert report.reporter_contact == "abuse-reports@mailbox.example"
    assert report.report_id == sample["report_id"]


def test_xarf_in_the_body_is_read_too():
    [report] = parsers.parse_email(samples.xarf_email(samples.PER_CATEGORY["messaging"](), as_attachment=False))

    assert report.problems == [] and report.type == "spam" and report.source_port == 25


def test_xarf_evidence_is_decoded_with_its_hash():
    [report] = parsers.parse_email(samples.xarf_email(samples.PER_CATEGORY["messaging"]()))

    [item] = report.evidence
    assert item.content == samples.SPAM_COPY
    assert item.content_type == "message/rfc822"


def test_time_zones_are_normalised_to_utc():
    report = parsers.parse_xarf(json.dumps(samples.PER_CATEGORY["reputation"](when="2026-03-03T12:14:00+02:00")))

    assert report.event_time == dt.datetime(2026, 3, 3, 10, 14, tzinfo=dt.UTC)


def test_an_ipv6_source_is_read():
    report = parsers.parse_xarf(json.dumps(samples.PER_CATEGORY["reputation"](ip="2001:DB8:10::25")))

    assert report.source_ip == "2001:db8:10::25"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r.pop("protocol"), "'protocol' is a required property"),
        (lambda r: r.update(timestamp="last Tuesday"), "timestamp: 'last Tuesday' is not a 'date-time'"),
        (lambda r: r.update(type="junk"), "'messaging'/'junk' is not a category and type XARF v4 defines"),
        (lambda r: r.update(report_id="not-a-uuid"), "report_id: 'not-a-uuid' is not a 'uuid'"),
        (lambda r: r.update(source_port=70000), "source_port: 70000 is greater than the maximum of 65535"),
    ],
)
def test_schema_violations_are_named(change, expected):
    sample = samples.PER_CATEGORY["messaging"]()
    change(sample)

    report = parsers.parse_xarf(json.dumps(sample))

    assert any(expected in problem for problem in report.problems), report.problems


def test_invalid_json_is_a_problem_not_a_crash():
    [report] = parsers.parse_email(samples.xarf_email({}).replace(b"{}", b"{ not json"))

    assert report.problems and "not valid JSON" in report.problems[0]


def test_arf_feedback_report_is_read():
    [report] = parsers.parse_email(samples.arf_email(message_id="fbl-1@fbl.mailbox.example"))
    parsers.check_limits(report, now=NOW)

    assert report.problems == []
    assert report.format == "arf"
    assert (report.category, report.type) == ("messaging", "spam")
    assert report.source_ip == "198.51.100.25"
    assert report.event_time == dt.datetime(2026, 3, 3, 10, 14, tzinfo=dt.UTC)
    assert report.reporter_contact == "fbl@mailbox.example"
    assert report.reporter_org == "mx.mailbox.example"
    assert report.report_id == "fbl-1@fbl.mailbox.example"
    assert report.summary == "Cheap watches"
    assert report.details["user-agent"] == "MailboxFBL/1.0"
    [copy] = report.evidence
    assert b"Subject: Cheap watches" in copy.content and copy.content_type == "message/rfc822"


def test_arf_without_source_ip_names_the_problem():
    raw = samples.arf_email().replace(b"Source-IP: 198.51.100.25\r\n", b"")
    [report] = parsers.parse_email(raw)
    parsers.check_limits(report, now=NOW)

    assert "the report names no IP address" in report.problems


def test_x_arf_json_part_is_read_and_mapped_to_v4_types():
    [report] = parsers.parse_email(samples.xarf_v3_email())
    parsers.check_limits(report, now=NOW)

    assert report.problems == []
    assert report.format == "xarf3"
    assert (report.category, report.type) == ("connection", "login_attack")
    assert report.event_time == dt.datetime(2026, 3, 3, 8, 30, tzinfo=dt.UTC)
    assert report.source_port == 40222
    assert report.reporter_org == "Honeynet Example"
    assert [e.content for e in report.evidence] == [b"sshd: Failed password"]


def test_plain_text_finds_addresses_and_times_and_confirms_nothing():
    body = (
        "Hello, since 2026-03-03 09:12 +0100 the machine at 198.51.100.25 and 2001:db8:10::7 keeps\n"
        "trying to log in to my server (127.0.0.1 is mine). Please stop it!"
    )
    reports = parsers.parse_email(samples.text_email(body))

    assert [r.source_ip for r in reports] == ["198.51.100.25", "2001:db8:10::7"]
    assert {r.event_time for r in reports} == {dt.datetime(2026, 3, 3, 8, 12, tzinfo=dt.UTC)}
    assert all(r.confirmed is False and r.format == "text" for r in reports)
    assert reports[0].reporter_contact == "jo.bloggs@home.example"
    assert reports[0].reporter_is_organisation is False
    assert reports[0].content_sha256 != reports[1].content_sha256


def test_plain_text_without_a_time_uses_the_email_date_and_says_so():
    [report] = parsers.parse_email(samples.text_email("Spam from 198.51.100.25 again."))

    assert report.event_time == dt.datetime(2026, 3, 3, 12, 0, tzinfo=dt.UTC)
    assert "the email's date is used" in report.details["notes"][0]


def test_plain_text_without_an_address_is_a_problem():
    [report] = parsers.parse_email(samples.text_email("Your customer is bad."))

    assert report.problems == ["no IP address was found in the text"]


def test_a_time_in_the_future_is_a_problem():
    report = parsers.parse_xarf(json.dumps(samples.PER_CATEGORY["reputation"](when="2026-03-05T00:00:00Z")))
    parsers.check_limits(report, now=NOW)

    assert any("is in the future" in p for p in report.problems)


def test_a_domain_is_not_an_address():
    report = parsers.parse_xarf(json.dumps(samples.PER_CATEGORY["reputation"](ip="bad.example")))
    parsers.check_limits(report, now=NOW)

    assert "the source 'bad.example' is not an IP address" in report.problems


def test_evidence_over_the_size_limit_and_too_many_items_are_problems(settings):
    settings.PORTAL_ABUSE_MAX_EVIDENCE_BYTES = 10
    settings.PORTAL_ABUSE_MAX_EVIDENCE_ITEMS = 2
    sample = samples.PER_CATEGORY["reputation"](evidence=[samples.evidence(b"x" * 11)] * 3)
    report = parsers.parse_xarf(json.dumps(sample))
    parsers.check_limits(report, now=NOW)

    assert "the report has 3 evidence items; at most 2 are accepted" in report.problems
    assert "evidence item 1 is 11 bytes, over the limit of 10 bytes" in report.problems


def test_an_evidence_hash_that_does_not_match_is_a_problem():
    item = samples.evidence(b"log")
    item["hash"] = "sha256:" + "0" * 64
    report = parsers.parse_xarf(json.dumps(samples.PER_CATEGORY["reputation"](evidence=[item])))

    assert "evidence item 1: its SHA-256 does not match the hash the report gives" in report.problems
