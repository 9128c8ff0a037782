"""Settings come from the environment, fail naming the variable, and production is strict.

Most tests execute portal/settings.py afresh with a controlled environment (fast, and
it is the real module); the ``check --deploy`` test runs manage.py in a subprocess with
a clean environment, as an operator would.
"""

from __future__ import annotations

import os
import runpy
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import Env

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_FILE = ROOT / "portal" / "settings.py"
OUR_PREFIXES = ("PORTAL_", "DJANGO_", "EMAIL_", "CELERY_", "DATABASE_")
OUR_NAMES = ("DEFAULT_FROM_EMAIL", "SERVER_EMAIL")


def strong_secret() -> str:
    return secrets.token_urlsafe(64)


@pytest.fixture
def load_settings(monkeypatch, tmp_path):
    """Execute portal/settings.py with only the given variables set; returns its namespace."""
    for name in list(os.environ):
        if name.startswith(OUR_PREFIXES) or name in OUR_NAMES:
            monkeypatch.delenv(name)

    def load(**environ: str) -> dict:
        environ.setdefault("PORTAL_VAR_DIR", str(tmp_path / "var"))
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS_FILE))

    return load


def production_env(**overrides: str) -> dict[str, str]:
    values = {
        "PORTAL_ENV": "production",
        "DJANGO_SECRET_KEY": strong_secret(),
        "PORTAL_ALLOWED_HOSTS": "portal.example.net",
        "DATABASE_URL": "postgres://portal@db.example.net:5432/portal",
        "CELERY_BROKER_URL": "redis://redis.example.net:6379/0",
        "EMAIL_HOST": "smtp.example.net",
        "PORTAL_MAIL_AUTHSERV_ID": "mx.example.net",
        "PORTAL_MFA_KEYS": "e1cGKV3TXXq7nr1bUGWLN8Px2pyprTRvgsmyzfsgPrY=",
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def test_unset_environment_gives_the_embedded_profile(load_settings, tmp_path):
    settings = load_settings()

    assert settings["PORTAL_ENV"] == "development"
    assert settings["DEBUG"] is True
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["DATABASES"]["default"]["NAME"] == str(tmp_path / "var" / "portal.sqlite3")
    assert settings["CELERY_TASK_ALWAYS_EAGER"] is True
    assert settings["EMAIL_BACKEND"] == "accounts.correspondence.outbox.PrivateOutboxBackend"
    assert settings["EMAIL_FILE_PATH"] == tmp_path / "var" / "outbox"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"PORTAL_DEBUG": "maybe"}, "PORTAL_DEBUG"),
        ({"EMAIL_PORT": "abc"}, "EMAIL_PORT"),
        ({"EMAIL_PORT": "70000"}, "EMAIL_PORT"),
        ({"DATABASE_URL": "nonsense://"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://"}, "DATABASE_URL"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"PORTAL_FINANCIAL_YEAR_END": "02-30"}, "PORTAL_FINANCIAL_YEAR_END"),
        ({"PORTAL_FINANCIAL_YEAR_END": "March"}, "PORTAL_FINANCIAL_YEAR_END"),
        ({"PORTAL_ENV": "staging"}, "PORTAL_ENV"),
        ({"PORTAL_ENV": ""}, "PORTAL_ENV"),
        ({"PORTAL_DEBUG": "true", **production_env()}, "PORTAL_DEBUG"),
        ({"PORTAL_CACHE_URL": "locmem", **production_env()}, "PORTAL_CACHE_URL"),
        (production_env(CELERY_BROKER_URL=None), "CELERY_BROKER_URL"),
        (production_env(EMAIL_HOST=None), "EMAIL_HOST"),
        (production_env(PORTAL_MFA_KEYS=None), "PORTAL_MFA_KEYS"),
        ({"PORTAL_MFA_KEYS": "not-a-fernet-key"}, "PORTAL_MFA_KEYS"),
        ({"CELERY_BROKER_URL": "http://127.0.0.1:6379/0"}, "CELERY_BROKER_URL"),
        ({"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}, "EMAIL_USE_SSL"),
        ({"PORTAL_HSTS_SECONDS": "-1", **production_env()}, "PORTAL_HSTS_SECONDS"),
        ({"CELERY_WORKER_MAX_MEMORY_PER_CHILD": "512MB"}, "CELERY_WORKER_MAX_MEMORY_PER_CHILD"),
        ({"CELERY_WORKER_MAX_MEMORY_PER_CHILD": "1000"}, "CELERY_WORKER_MAX_MEMORY_PER_CHILD"),
        ({"PORTAL_STORAGE": "ftp"}, "PORTAL_STORAGE"),
        ({"PORTAL_STORAGE": "s3"}, "PORTAL_S3_BUCKET"),
        ({"PORTAL_STORAGE": "s3", "PORTAL_S3_BUCKET": "files"}, "PORTAL_S3_ACCESS_KEY_ID"),
        ({"PORTAL_LOG_FORMAT": "xml"}, "PORTAL_LOG_FORMAT"),
    ],
)
def test_bad_value_is_refused_naming_the_variable(load_settings, environ, variable):
    with pytest.raises(ImproperlyConfigured, match=variable):
        load_settings(**environ)


def test_value_and_file_for_the_same_variable_are_refused(load_settings, tmp_path):
    secret_file = tmp_path / "password"
    secret_file.write_text("from-file")

    with pytest.raises(ImproperlyConfigured, match="Set either EMAIL_HOST_PASSWORD or EMAIL_HOST_PASSWORD_FILE"):
        load_settings(EMAIL_HOST_PASSWORD="inline", EMAIL_HOST_PASSWORD_FILE=str(secret_file))


def test_secrets_are_read_from_name_file(load_settings, tmp_path):
    key = strong_secret()
    (tmp_path / "secret_key").write_text(key + "\n")  # trailing newline, as editors leave it
    (tmp_path / "smtp_password").write_text("s3cret smtp\n")
    (tmp_path / "database_url").write_text("postgres://portal:pw@db.example.net:5432/portal\n")

    settings = load_settings(
        **production_env(
            DJANGO_SECRET_KEY=None,
            DATABASE_URL=None,
            DJANGO_SECRET_KEY_FILE=str(tmp_path / "secret_key"),
            DATABASE_URL_FILE=str(tmp_path / "database_url"),
            EMAIL_HOST="smtp.example.net",
            EMAIL_HOST_PASSWORD_FILE=str(tmp_path / "smtp_password"),
        )
    )

    assert settings["SECRET_KEY"] == key
    assert settings["EMAIL_HOST_PASSWORD"] == "s3cret smtp"
    assert settings["DATABASES"]["default"]["PASSWORD"] == "pw"
    assert settings["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"


def test_unreadable_secret_file_names_the_variable(load_settings, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY_FILE: cannot read"):
        load_settings(DJANGO_SECRET_KEY_FILE=str(tmp_path / "missing"))


def test_database_url_errors_do_not_echo_the_password():
    with pytest.raises(ImproperlyConfigured) as error:
        Env({"DATABASE_URL": "postgress://portal:hunter2@db/portal"}).database("DATABASE_URL", "sqlite://")
    assert "DATABASE_URL" in str(error.value)
    assert "hunter2" not in str(error.value)


def test_smtp_settings_from_the_environment(load_settings):
    settings = load_settings(
        EMAIL_HOST="smtp.example.net", EMAIL_USE_SSL="true", EMAIL_HOST_USER="portal", EMAIL_TIMEOUT="10"
    )

    assert settings["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert settings["EMAIL_PORT"] == 465
    assert (settings["EMAIL_USE_SSL"], settings["EMAIL_USE_TLS"]) == (True, False)
    assert settings["EMAIL_HOST_USER"] == "portal"
    assert settings["EMAIL_TIMEOUT"] == 10


def test_workers_are_replaced_once_they_have_grown_past_a_memory_limit(load_settings):
    # WeasyPrint's native libraries keep memory per PDF; a worker that renders a billing run
    # must be recycled. Celery reads the limit (KiB) from the CELERY_ namespace of settings.
    assert load_settings()["CELERY_WORKER_MAX_MEMORY_PER_CHILD"] == 512 * 1024
    assert load_settings(CELERY_WORKER_MAX_MEMORY_PER_CHILD="262144")["CELERY_WORKER_MAX_MEMORY_PER_CHILD"] == 262144


def test_the_celery_app_takes_the_worker_memory_limit_from_settings(settings):
    from portal.celery import app

    assert app.conf.worker_max_memory_per_child == settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD


def test_broker_url_turns_off_in_process_tasks(load_settings):
    settings = load_settings(CELERY_BROKER_URL="redis://127.0.0.1:6379/0")

    assert settings["CELERY_TASK_ALWAYS_EAGER"] is False


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "PORTAL_ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_refuses_to_start_without(load_settings, missing):
    with pytest.raises(ImproperlyConfigured, match=missing):
        load_settings(**production_env(**{missing: None}))


@pytest.mark.parametrize("weak", ["django-insecure-" + "x" * 50, "too-short", "a" * 60])
def test_production_refuses_a_weak_secret_key(load_settings, weak):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        load_settings(**production_env(DJANGO_SECRET_KEY=weak))


def test_production_profile_turns_on_https_protections(load_settings):
    settings = load_settings(**production_env())

    assert settings["DEBUG"] is False
    assert settings["ALLOWED_HOSTS"] == ["portal.example.net"]
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert settings["SESSION_COOKIE_SECURE"] and settings["CSRF_COOKIE_SECURE"]
    assert settings["SECURE_HSTS_SECONDS"] >= 31536000


def test_development_generates_the_secret_key_once_and_reuses_it(load_settings, tmp_path):
    first = load_settings()["SECRET_KEY"]
    second = load_settings()["SECRET_KEY"]

    key_file = tmp_path / "var" / "secret_key"
    assert first == second == key_file.read_text().strip()
    assert len(first) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def _manage(*args: str, environ: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    clean.update(environ)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_profile_passes_check_deploy_with_no_warnings(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        environ=production_env(PORTAL_VAR_DIR=str(tmp_path / "var")),
        tmp_path=tmp_path,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_without_secret_key_stops_manage_py_naming_it(tmp_path):
    result = _manage(
        "check", environ=production_env(DJANGO_SECRET_KEY=None, PORTAL_VAR_DIR=str(tmp_path)), tmp_path=tmp_path
    )

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_s3_storage_keeps_files_private_in_the_bucket_given(load_settings, tmp_path):
    secret = tmp_path / "s3-secret"
    secret.write_text("from-a-file\n")
    settings = load_settings(
        PORTAL_STORAGE="s3",
        PORTAL_S3_BUCKET="portal-files",
        PORTAL_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        PORTAL_S3_ACCESS_KEY_ID="portal",
        PORTAL_S3_SECRET_ACCESS_KEY_FILE=str(secret),
    )
    storage = settings["STORAGES"]["default"]
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    options = storage["OPTIONS"]
    assert (options["bucket_name"], options["endpoint_url"]) == ("portal-files", "http://127.0.0.1:9000")
    assert options["secret_key"] == "from-a-file"
    assert options["default_acl"] == "private" and options["file_overwrite"] is False


def test_production_allowed_to_run_tasks_in_process_and_keep_mail_says_so_in_check_deploy(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        environ=production_env(
            PORTAL_VAR_DIR=str(tmp_path / "var"),
            CELERY_BROKER_URL=None,
            EMAIL_HOST=None,
            PORTAL_TASKS_IN_PROCESS="true",
            PORTAL_MAIL_TO_OUTBOX="true",
            PORTAL_MAIL_AUTHSERV_ID=None,
        ),
        tmp_path=tmp_path,
    )
    said = result.stdout + result.stderr
    assert "portal.W001" in said and "portal.W002" in said and "portal.W003" in said


def test_private_files_are_written_for_the_portals_user_only(load_settings):
    options = load_settings()["STORAGES"]["default"]["OPTIONS"]
    assert (options["file_permissions_mode"], options["directory_permissions_mode"]) == (0o600, 0o700)


def test_the_outbox_keeps_mail_readable_by_the_portals_user_only(tmp_path):
    from django.core.mail import EmailMessage

    from accounts.correspondence.outbox import PrivateOutboxBackend

    outbox = tmp_path / "outbox"
    backend = PrivateOutboxBackend(file_path=str(outbox))
    sent = backend.send_messages(
        [EmailMessage("Join us", "https://portal.example/invitations/accept/tok/", to=["a@x.example"])]
    )
    assert sent == 1
    (written,) = outbox.iterdir()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700


def test_ledger_keys_come_from_the_environment_last_one_signing(load_settings):
    old, new = "a" * 64, "b" * 64
    assert load_settings(PORTAL_LEDGER_KEYS=f"2025:{old}, 2026:{new}")["PORTAL_LEDGER_KEYS"] == [
        ("2025", old),
        ("2026", new),
    ]


def test_ledger_keys_come_from_a_file(load_settings, tmp_path):
    old, new = "a" * 64, "b" * 64
    keys = tmp_path / "ledger-keys"
    keys.write_text(f"2025:{old}\n2026:{new}\n")
    assert load_settings(PORTAL_LEDGER_KEYS_FILE=str(keys))["PORTAL_LEDGER_KEYS"][-1] == ("2026", new)


@pytest.mark.parametrize("value", ["nokey", "k1:short", f"bad id:{'c' * 40}", f"k1:{'c' * 40},k1:{'d' * 40}"])
def test_a_bad_ledger_key_is_refused_naming_the_variable(load_settings, value):
    with pytest.raises(ImproperlyConfigured, match="PORTAL_LEDGER_KEYS"):
        load_settings(PORTAL_LEDGER_KEYS=value)


def test_a_worker_process_freezes_what_is_alive_after_its_first_task_once(monkeypatch):
    import gc

    from celery.signals import task_postrun, worker_process_init

    freezes = []
    real_freeze = gc.freeze

    def counted_freeze() -> None:
        freezes.append(1)
        real_freeze()

    monkeypatch.setattr(gc, "freeze", counted_freeze)
    gc.unfreeze()  # whatever a test before this one froze (a worker started in process)
    assert gc.get_freeze_count() == 0
    try:
        worker_process_init.send(sender=None)
        assert gc.get_freeze_count() == 0  # not before the first task has loaded what it needs
        task_postrun.send(sender=None)
        assert gc.get_freeze_count() > 0
        task_postrun.send(sender=None)  # later tasks freeze nothing more
        # Counted as calls: the frozen count itself falls whenever a frozen object is freed.
        assert len(freezes) == 1
    finally:
        gc.unfreeze()
