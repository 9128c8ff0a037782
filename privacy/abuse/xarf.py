"""XARF reports checked against the official JSON Schemas (``schemas/xarf/``, MIT licence).

The schemas are loaded once, with their ``$id`` addresses in a ``referencing`` registry,
so the master schema's references to the core and type schemas resolve locally, never
over the network. ``validate_v4`` and ``validate_v3`` return the problems found, each
naming the field, or an empty list.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).parent / "schemas" / "xarf"
MAX_PROBLEMS = 5


def parse_timestamp(value: str) -> dt.datetime:
    """An RFC 3339 date-time with its offset, as an aware datetime; ValueError otherwise."""
    text = value.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment


def _format_checker() -> FormatChecker:
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_date_time(value) -> bool:
        if isinstance(value, str):
            parse_timestamp(value)
        return True

    return checker


@cache
def _validators() -> tuple[Draft202012Validator, Draft202012Validator]:
    resources = []
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    registry = Registry().with_resources(resources)
    checker = _format_checker()
    schemas = dict(resources)
    v4 = schemas["https://xarf.org/schemas/v4/xarf-v4-master.json"].contents
    v3 = schemas["https://xarf.org/schemas/v3/xarf-v3-legacy.json"].contents
    return (
        Draft202012Validator(v4, registry=registry, format_checker=checker),
        Draft202012Validator(v3, registry=registry, format_checker=checker),
    )


def _problems(validator: Draft202012Validator, data) -> list[str]:
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: (list(e.absolute_path), e.message)):
        where = error.json_path.removeprefix("$.") if error.json_path != "$" else "the report"
        if error.validator in ("anyOf", "oneOf") and isinstance(error.instance, dict) and not error.absolute_path:
            # The master schema's list of category and type pairs: name the pair, not the whole report.
            pair = f"{error.instance.get('category')!r}/{error.instance.get('type')!r}"
            problems.append(f"category and type: {pair} is not a category and type XARF v4 defines")
            continue
        message = error.message if len(error.message) <= 200 else error.message[:200] + "…"
        problems.append(f"{where}: {message}")
    unique = list(dict.fromkeys(problems))
    if len(unique) > MAX_PROBLEMS:
        unique = [*unique[:MAX_PROBLEMS], f"and {len(unique) - MAX_PROBLEMS} more"]
    return unique


def validate_v4(data) -> list[str]:
    return _problems(_validators()[0], data)


def validate_v3(data) -> list[str]:
    return _problems(_validators()[1], data)
