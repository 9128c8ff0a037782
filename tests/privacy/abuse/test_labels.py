"""Kinds of abuse are shown by their proper names ("DDoS", "Port scan", "SQL injection"),
never as the identifier capitalised ("Ddos"): on the customer's pages, in the admin and in
the emails."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts import roles
from accounts.audit import System
from accounts.models import Membership
from privacy.abuse import cases, intake, parsers
from privacy.abuse.admin import TYPE_PAIRS
from privacy.abuse.models import CATEGORIES, TYPE_CHOICES, TYPE_LABELS, AbuseCase, in_sentence
from tests.accounts.factories import StaffFactory, enable_totp
from tests.privacy.abuse import samples

NOW = dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC)


def test_every_type_has_a_written_label_and_none_is_a_capitalised_identifier():
    assert {t for types in CATEGORIES.values() for t in types} == set(TYPE_LABELS)
    labels = dict(TYPE_CHOICES)
    assert (labels["ddos"], labels["port_scan"], labels["phishing"], labels["spam"]) == (
        "DDoS",
        "Port scan",
        "Phishing",
        "Spam",
    )
    assert labels["sql_injection"] == "SQL injection" and "P2P" in labels["p2p"] and "CVE" in labels["cve"]
    assert ("connection/ddos", "Connection — DDoS") in TYPE_PAIRS


@pytest.mark.parametrize(
    ("label", "phrase"),
    [("Port scan", "port scan"), ("DDoS", "DDoS"), ("SQL injection", "SQL injection"), ("Usenet", "Usenet"),
     ("Known vulnerability (CVE)", "known vulnerability (CVE)"), ("Phishing", "phishing")],
)  # fmt: skip
def test_a_label_inside_a_sentence_keeps_its_acronyms(label, phrase):
    assert in_sentence(label) == phrase


def _ddos_case(hosted) -> AbuseCase:
    data = parsers.parse_xarf(
        json.dumps(
            samples.xarf("connection", "ddos", source_port=53, protocol="udp", first_seen="2026-03-03T09:00:00Z")
        )
    )
    report = intake.file_report(data, now=NOW, actor=System("tests"))
    assert report.case is not None, report.problem
    return report.case


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_a_ddos_case_reads_ddos_for_the_customer_the_desk_and_in_the_email(hosted):
    case = _ddos_case(hosted)
    staff = StaffFactory()
    staff.groups.add(Group.objects.get(name=roles.ABUSE_GROUP))
    enable_totp(staff)

    message = cases.tell_customer(case, actor=staff, instructions="Stop the flood.").outbound
    owner = _client(Membership.objects.get(customer=case.customer, role=roles.Role.OWNER).user)
    listing = owner.get(reverse("abuse:case_list")).content.decode()
    page = owner.get(reverse("abuse:case_detail", args=[case.pk])).content.decode()
    desk = _client(staff)
    changelist = desk.get(reverse("admin:privacy_abusecase_changelist")).content.decode()
    change = desk.get(reverse("admin:privacy_abusecase_change", args=[case.pk])).content.decode()

    assert "DDoS" in message.subject and "of DDoS (connection)" in message.body_text
    for shown in (listing, page, changelist, change, message.subject, message.body_text):
        assert "Ddos" not in shown and "ddos" not in shown.replace("connection/ddos", "")
    assert "DDoS" in listing and "Kind of abuse</dt><dd>DDoS (connection)" in page
    assert "DDoS" in changelist and "DDoS" in change


@pytest.mark.django_db
def test_a_port_scan_is_port_scan_inside_a_sentence(hosted):
    data = parsers.parse_xarf(json.dumps(samples.xarf("connection", "port_scan", source_port=40000, protocol="tcp",
                                                      first_seen="2026-03-03T09:00:00Z")))  # fmt: skip
    case = intake.file_report(data, now=NOW, actor=System("tests")).case

    message = cases.tell_customer(case, actor=StaffFactory(), instructions="Stop scanning.").outbound

    assert f"Abuse case #{case.pk}: Port scan from web-01" == str(case)
    assert ": port scan — please act by" in message.subject
