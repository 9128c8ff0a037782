"""The deployment files: each systemd unit starts its process through deploy/run (the one
place the commands are written) as an unprivileged user with systemd's hardening."""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = {
    "portal-web.service": "web",
    "portal-worker@.service": "worker",
    "portal-mail-worker.service": "mail-worker",
    "portal-beat.service": "beat",
}
HARDENING = {
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "ReadWritePaths": "/var/lib/portal",
    "CapabilityBoundingSet": "",
}


def _unit(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read(ROOT / "deploy" / "systemd" / name)
    return parser["Service"]


@pytest.mark.parametrize(("name", "role"), UNITS.items())
def test_each_unit_runs_its_process_through_deploy_run_hardened(name, role):
    service = _unit(name)
    assert service["ExecStart"] == f"/srv/portal/deploy/run {role}"
    assert (service["User"], service["EnvironmentFile"]) == ("portal", "/etc/portal/portal.env")
    assert {key: service.get(key) for key in HARDENING} == HARDENING


def test_deploy_run_names_what_it_can_start_when_asked_for_something_else():
    result = subprocess.run([ROOT / "deploy" / "run", "webserver"], capture_output=True, text=True, check=False)
    assert result.returncode == 64
    assert "usage: deploy/run web|worker|mail-worker|beat|release" in result.stderr


def test_the_example_environment_sets_up_production():
    lines = (ROOT / "deploy" / "portal.env.example").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert values["PORTAL_ENV"] == "production" and values["DJANGO_SECRET_KEY_FILE"]
    assert not any(name.endswith(("SECRET_KEY", "PASSWORD")) for name in values)  # secrets come from files
