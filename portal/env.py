"""Reading settings from the environment.

Every value is parsed once, when settings load. A bad value raises
``ImproperlyConfigured`` naming the variable, so an operator sees which line of
their environment file is wrong instead of a traceback deep inside Django.
Secrets may be given as ``NAME_FILE`` (a path whose contents are the value), the
convention of Docker and systemd credentials.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        """The value of NAME, or the contents of the file named by NAME_FILE."""
        file_name = self.environ.get(f"{name}_FILE")
        if name in self.environ and file_name:
            raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
        if file_name:
            try:
                return Path(file_name).read_text().strip()
            except OSError as exc:
                raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name!r}: {exc.strerror}.") from exc
        return self.environ.get(name)

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name)
        return default if value is None else value

    def required(self, name: str, why: str) -> str:
        value = self.raw(name)
        if not value:
            raise ImproperlyConfigured(f"{name} must be set {why}.")
        return value

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use one of: true, false, 1, 0, yes, no.")

    def int(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
        if maximum is not None and number > maximum:
            raise ImproperlyConfigured(f"{name}={number} is above the maximum of {maximum}.")
        return number

    def float(self, name: str, default: float, *, minimum: float | None = None) -> float:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            number = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
        if number != number or (minimum is not None and number < minimum):  # NaN, or too small
            raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
        return number

    def list(self, name: str, default: list[str] | None = None) -> list[str]:
        value = self.raw(name)
        if value is None:
            return list(default or [])
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.raw(name)
        if value is None:
            return default
        if value not in choices:  # set but empty is a mistake too, not the default
            raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}.")
        return value

    def database(self, name: str, default: str) -> dict:
        """A database URL (dj-database-url syntax) as a Django DATABASES entry.

        Errors name the variable and the scheme but never echo the URL, which may hold a password.
        """
        import dj_database_url

        value = self.raw(name) or default
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if not scheme:
            raise ImproperlyConfigured(f"{name} is not a database URL; expected e.g. postgres://user@host:5432/name.")
        try:
            config = dj_database_url.parse(value, conn_max_age=60, conn_health_checks=True)
        except dj_database_url.UnknownSchemeError:
            raise ImproperlyConfigured(
                f"{name}: unknown database scheme {scheme!r}; use postgres:// (production) or sqlite:// ."
            ) from None
        except ValueError as exc:  # e.g. a port that is not a number; the message holds no URL
            raise ImproperlyConfigured(f"{name} is not a valid database URL: {str(exc).rstrip('.')}.") from None
        if not config.get("ENGINE") or not config.get("NAME"):
            raise ImproperlyConfigured(f"{name}: the {scheme}:// URL names no database.")
        return config
