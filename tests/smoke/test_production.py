"""The production set-up, run for real on loopback: gunicorn with 2 workers, two Celery
workers and one beat, started by `deploy/run` (the commands the systemd units use), with
`PORTAL_ENV=production`, PostgreSQL, Redis, private files in an S3-compatible store
(moto's server) and mail to a local SMTP server. Then, as people would:

- staff log in with their authenticator code and start a billing run for one customer
  in the admin;
- the invoice's email reaches the SMTP server with its PDF;
- the customer's billing contact downloads the PDF in the portal: the same bytes, with
  the hash stored, and their reply, piped into `receive_email`, shows in their
  correspondence;
- the customer's owner asks for a data export and downloads it;
- `verify_ledger` passes.

Run by `make smoke` (and CI), not by `make test`: it needs PostgreSQL and Redis on
loopback (DATABASE_URL, CELERY_BROKER_URL point at them) and takes a minute or two.
Every process is stopped by its process group; a failure prints their logs.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from cryptography.fernet import Fernet
from moto.server import ThreadedMotoServer

from tests.smtp import SMTPServer, free_port

ROOT = Path(__file__).resolve().parents[2]
OURS = ("PORTAL_", "DJANGO_", "EMAIL_", "CELERY_", "DATABASE_")
DEMO_PASSWORD = "northwind-demo-2026"  # load_demo's published password
DEMO_TOTP_SECRET = "NORTHWINDHOSTINGDEMOTOTPSECRET22"
STAFF = "admin@northwind-hosting.example"
CONTACT = "billing@smoke-test.example"  # the customer's billing contact
OWNER = "owner@smoke-test.example"
BUCKET = "portal-smoke"
DEADLINE = 120  # seconds for each thing we wait for

CUSTOMER = f"""
import datetime as dt
from allauth.account.models import EmailAddress
from django.utils import timezone
from accounts import roles
from accounts.audit import System
from accounts.models import Customer, Membership, Service, User
from billing.models import Plan
from billing.workflows.subscriptions import start_subscription
customer = Customer.objects.create(registered_name="Smoke Test Ltd", address_line1="1 Loopback Lane",
                                   town="Leeds", postcode="LS1 1AA", country="GB")
for address, name, role in (("{CONTACT}", "Sam Smoke", roles.Role.BILLING), ("{OWNER}", "Olu Owner", roles.Role.OWNER)):
    user = User.objects.create_user(address, "{DEMO_PASSWORD}", full_name=name)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    Membership.objects.create(user=user, customer=customer, role=role)
service = Service.objects.create(customer=customer, name="smoke-vps", kind=Service.Kind.VPS,
                                 platform=Service.Platform.VIRTUAL)
plan = Plan.objects.filter(name="VPS Small", period="monthly").first()
start_subscription(service, plan, on=timezone.localdate().replace(day=1), actor=System("smoke test"))
print(customer.pk)
"""


class Processes:
    """Processes started in their own process groups, with their output in files."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str], environ: dict[str, str]) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.running[name] = subprocess.Popen(
            command, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def check(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.log(name)}")

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-6000:]

    @contextmanager
    def logs_on_failure(self):
        """On a failure, print the end of every process's log: which one misbehaved shows."""
        try:
            yield
        except BaseException:
            for name in self.running:
                print(f"----- {name}.log -----\n{self.log(name)}")
            raise

    def stop(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.running.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_for(what: str, probe: Callable[[], object], processes: Processes, seconds: float = DEADLINE):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        processes.check()
        result = probe()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"Timed out waiting for {what}.")


class Browser:
    """A person's browser, behind a TLS-terminating proxy (X-Forwarded-Proto: https)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        origin = urlunsplit(urlsplit(base)._replace(scheme="https"))
        self.session.headers.update({"X-Forwarded-Proto": "https", "Origin": origin, "Referer": origin + "/"})

    def _cookies(self) -> dict[str, str]:
        # TLS ends at the proxy: the portal's Secure cookies travel over our plain loopback.
        return {cookie.name: cookie.value for cookie in self.session.cookies}

    def _follow(self, response: requests.Response) -> requests.Response:
        """Follow redirects here, so each hop sends the cookies the last one set."""
        for _ in range(10):
            if not response.is_redirect:
                return response
            location = urlsplit(response.headers["Location"])
            response = self.session.get(
                self.base + location.path + (f"?{location.query}" if location.query else ""),
                timeout=30,
                cookies=self._cookies(),
                allow_redirects=False,
            )
        raise AssertionError("Too many redirects.")

    def get(self, path: str) -> requests.Response:
        return self._follow(
            self.session.get(self.base + path, timeout=30, cookies=self._cookies(), allow_redirects=False)
        )

    def post(self, path: str, data: dict) -> requests.Response:
        page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, f"no form on {path}: {page.status_code}"
        response = self.session.post(
            self.base + path,
            data={"csrfmiddlewaretoken": token.group(1), **data},
            timeout=30,
            cookies=self._cookies(),
            allow_redirects=False,
        )
        return self._follow(response)

    def login(self, address: str, totp_secret: str | None = None) -> None:
        response = self.post("/accounts/login/", {"login": address, "password": DEMO_PASSWORD})
        if totp_secret:
            assert "/2fa/authenticate" in response.url, response.url
            code = format_hotp_value(hotp_value(totp_secret, int(time.time()) // 30))
            response = self.post("/accounts/2fa/authenticate/", {"code": code})
        assert response.status_code == 200 and "/accounts/login" not in response.url, response.url


def _databases():
    base = urlsplit(os.environ["DATABASE_URL"])
    name = f"portal_smoke_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(base._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return admin, name, urlunsplit(base._replace(path=f"/{name}"))


@pytest.fixture
def production(tmp_path):
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("CELERY_BROKER_URL"):
        pytest.fail("The smoke test runs against PostgreSQL and a broker: set DATABASE_URL and CELERY_BROKER_URL.")
    admin, name, database_url = _databases()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    s3_host, s3_port = s3.get_host_and_port()
    import boto3

    boto3.client(
        "s3", endpoint_url=f"http://{s3_host}:{s3_port}", aws_access_key_id="portal",
        aws_secret_access_key="smoke-secret", region_name="eu-west-2",
    ).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})  # fmt: skip
    smtp = SMTPServer().__enter__()
    port = free_port()
    broker = os.environ["CELERY_BROKER_URL"].rsplit("/", 1)[0] + "/12"  # a database of its own
    environ = {name_: value for name_, value in os.environ.items() if not name_.startswith(OURS)}
    environ.update(
        PORTAL_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        PORTAL_MFA_KEYS=Fernet.generate_key().decode(),
        PORTAL_ALLOWED_HOSTS="127.0.0.1",
        PORTAL_BASE_URL=f"https://127.0.0.1:{port}",
        PORTAL_VAR_DIR=str(tmp_path / "var"),
        PORTAL_STATIC_ROOT=str(tmp_path / "static"),
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker,
        PORTAL_CACHE_URL=broker.rsplit("/", 1)[0] + "/11",
        PORTAL_STORAGE="s3",
        PORTAL_S3_BUCKET=BUCKET,
        PORTAL_S3_ENDPOINT_URL=f"http://{s3_host}:{s3_port}",
        PORTAL_S3_REGION="eu-west-2",
        PORTAL_S3_ACCESS_KEY_ID="portal",
        PORTAL_S3_SECRET_ACCESS_KEY="smoke-secret",
        PORTAL_S3_ADDRESSING_STYLE="path",
        PORTAL_S3_ENCRYPT="false",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp.port),
        EMAIL_USE_TLS="false",
        DEFAULT_FROM_EMAIL="portal@northwind-hosting.example",
        PORTAL_MAIL_AUTHSERV_ID="mx.northwind-hosting.example",
        PORTAL_BIND=f"127.0.0.1:{port}",
        PORTAL_WEB_WORKERS="2",
        PORTAL_PYTHON=sys.executable,
    )
    import redis

    redis.Redis.from_url(broker).flushdb()
    processes = Processes(tmp_path)
    try:
        yield environ, processes, smtp, f"http://127.0.0.1:{port}"
    finally:
        processes.stop()
        smtp.__exit__(None, None, None)
        s3.stop()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _manage(environ: dict[str, str], *args: str, stdin: bytes | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environ, input=stdin, capture_output=True, check=False
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}: {result.stderr.decode(errors='replace')}"
    return result.stdout.decode()


def test_the_production_set_up_bills_mails_files_and_exports(production):
    environ, processes, smtp, base = production
    with processes.logs_on_failure():
        deploy = str(ROOT / "deploy" / "run")
        subprocess.run([deploy, "release"], cwd=ROOT, env=environ, check=True, capture_output=True)
        _manage(environ, "load_demo", "--force")
        customer_id = _manage(environ, "shell", "-c", CUSTOMER).split()[-1]

        processes.start("web", [deploy, "web"], environ)
        processes.start("worker1", [deploy, "worker"], {**environ, "PORTAL_WORKER_NAME": "smoke1"})
        processes.start("worker2", [deploy, "worker"], {**environ, "PORTAL_WORKER_NAME": "smoke2"})
        processes.start("beat", [deploy, "beat"], environ)

        def ready():
            try:
                return requests.get(base + "/readyz", timeout=5).status_code == 200
            except (requests.ConnectionError, requests.Timeout):  # still starting: a worker's first request is slow
                return False

        wait_for("the web processes to be ready", ready, processes)

        staff = Browser(base)
        staff.login(STAFF, DEMO_TOTP_SECRET)
        period = time.strftime("%Y-%m-01")
        started = staff.post("/admin/billing/billingrun/add/", {"period_start": period, "customer": customer_id})
        assert started.status_code == 200 and "started" in started.text, started.text[-2000:]

        def invoice_email():
            for envelope in smtp.received:
                if CONTACT in envelope.rcpt_tos and b"application/pdf" in envelope.content:
                    return email.message_from_bytes(envelope.content, policy=email.policy.default)
            return None

        mail = wait_for("the invoice email", invoice_email, processes)
        (attachment,) = [part for part in mail.walk() if part.get_content_type() == "application/pdf"]
        emailed_pdf = attachment.get_payload(decode=True)

        contact = Browser(base)
        contact.login(CONTACT)
        invoices = contact.get("/billing/invoices/")
        (pdf_path,) = set(re.findall(r'href="(/billing/invoices/\d+/pdf/)"', invoices.text))
        downloaded = contact.get(pdf_path)
        assert downloaded.status_code == 200 and downloaded.content == emailed_pdf
        stored = _manage(
            environ,
            "shell",
            "-c",
            "from billing.models import Invoice;"
            "print(Invoice.objects.get(customer__registered_name='Smoke Test Ltd').pdf_sha256)",
        )
        assert hashlib.sha256(downloaded.content).hexdigest() == stored.split()[-1]

        reply = EmailMessage()
        reply["From"] = f"Sam Smoke <{CONTACT}>"
        reply["To"] = "billing@northwind-hosting.example"
        reply["Subject"] = "Re: " + mail["Subject"]
        reply["Message-ID"] = "<smoke-reply@smoke-test.example>"
        reply["In-Reply-To"] = mail["Message-ID"]
        reply.set_content("Thank you, paid by bank transfer today.\n")
        stored_reply = _manage(environ, "receive_email", stdin=bytes(reply))
        assert "for Smoke Test Ltd" in stored_reply, stored_reply
        reply_id = re.search(r"Stored message (\d+)", stored_reply).group(1)
        assert contact.get("/correspondence/").status_code == 200
        assert "paid by bank transfer today" in contact.get(f"/correspondence/{reply_id}/").text

        owner = Browser(base)
        owner.login(OWNER)
        owner.post("/privacy/exports/", {})
        download = wait_for(
            "the data export",
            lambda: re.search(r'href="(/privacy/exports/\d+/download/)"', owner.get("/privacy/exports/").text),
            processes,
        )
        archive = owner.get(download.group(1))
        assert archive.status_code == 200 and zipfile.is_zipfile(io.BytesIO(archive.content))

        assert "Ledger intact" in _manage(environ, "verify_ledger")
        processes.check()  # nobody fell over on the way
