"""Nothing but the gateway's delivery module sends mail: every email goes through
accounts.correspondence.gateway, which stores it before it is sent."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("portal", "accounts", "privacy", "billing")
# Delivery, and the embedded default's outbox backend that delivery writes through (it
# sends nothing: it makes Django's file backend write private files).
ALLOWED = {Path("accounts/correspondence/delivery.py"), Path("accounts/correspondence/outbox.py")}
SENDING_NAMES = {
    "send_mail",
    "send_mass_mail",
    "mail_admins",
    "mail_managers",
    "EmailMessage",
    "EmailMultiAlternatives",
    "get_connection",
}


def mail_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("django.core.mail"):
            found += [
                f"from {node.module} import {a.name}"
                for a in node.names
                if a.name in SENDING_NAMES or a.name == "*" or node.module != "django.core.mail"
            ]
        elif isinstance(node, ast.ImportFrom) and node.module == "django.core":
            found += [f"from django.core import {a.name}" for a in node.names if a.name == "mail"]
        elif isinstance(node, ast.Import):
            found += [
                f"import {a.name}" for a in node.names if a.name.startswith("django.core.mail") or a.name == "smtplib"
            ]
    return found


def test_no_code_outside_the_gateway_imports_djangos_mail_sending():
    offenders = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            relative = path.relative_to(ROOT)
            if relative in ALLOWED or "migrations" in relative.parts:
                continue
            offenders += [f"{relative}: {imp}" for imp in mail_imports(path.read_text())]
    assert offenders == []


def test_the_scanner_catches_each_way_of_importing_mail():
    assert mail_imports("from django.core.mail import send_mail") == ["from django.core.mail import send_mail"]
    assert mail_imports("from django.core import mail") == ["from django.core import mail"]
    assert mail_imports("import django.core.mail") == ["import django.core.mail"]
    assert mail_imports("from django.core.mail.message import EmailMessage")
    assert mail_imports("import smtplib") == ["import smtplib"]
    assert mail_imports("from django.core.mail import BadHeaderError") == []
