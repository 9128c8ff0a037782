"""Customer pages kept once rendered, until anything they could show changes.

A customer page (the dashboard, the invoice list, "what we hold", ...) is rendered once
and kept, per person, customer, role, address and day, beside three *tokens* it was
rendered under: the customer's, the person's and the whole site's. Anything that changes
a row replaces the token of whom the row belongs to with a new random one, so a kept page
is served again only while nothing it could show has changed. Replacing, never counting,
means two changes at once cannot leave an old token behind, and a token lost from the
cache (evicted, restarted) only makes the next view render afresh.

Which token a change replaces:

- **A model saved** (Django's ``post_save``, ``m2m_changed``): the registry's declaration
  says whose row it is (``customer_path``, ``person_path``); an undeclared model (a plan,
  the provider's details, a policy, a rate) is the site's.
- **Any other write** (a delete, ``QuerySet.update()``, ``bulk_create()``, raw SQL): every
  statement that writes a table is seen by a wrapper on the database connection; unless
  the code said whose rows it writes (``writes_for``), it replaces the *site's* token,
  so a write nobody attributed empties every kept page rather than leave one stale.
  (Deletes are seen this way, not by ``post_delete``: a listener there would make Django
  load every row a bulk delete removes, such as the retention sweep's, to signal it.)
- Tables no customer page reads are left out (``IGNORED_TABLES``: sessions, the caches,
  the schedules' own bookkeeping).

A change inside a transaction replaces the tokens when it commits; until then the same
connection renders every page afresh and keeps none (it could see rows that may yet be
rolled back). A page is kept under the tokens read *before* its rows were read, so a page
rendered from rows as they were before a commit is never kept under the newer tokens.

Pages also expire after ``PORTAL_PAGE_CACHE_SECONDS`` (default 15 minutes) and at
midnight, for what changes with time alone ("overdue" from tomorrow, a duty that ends
today). The layout around a page (header, messages, cookie banner, footer) is rendered
for every request; only the page's own content is kept (``accounts.access``).
"""

from __future__ import annotations

import atexit
import base64
import datetime as dt
import functools
import logging
import pickle
import re
import secrets
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.apps import apps as global_apps
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models.signals import m2m_changed, post_save
from django.utils import timezone

ALIAS = "pages"
SITE = "pc:site"
IGNORED_TABLES = frozenset({"django_session", "django_migrations"})
IGNORED_PREFIXES = ("django_celery_beat_", "django_celery_results_")

_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE|MERGE\s+INTO)\s+"?([A-Za-z0-9_]+)"?', re.I)
_WRITES_WITHIN = re.compile(r"^\s*WITH\b.*\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.I | re.S)
_local = threading.local()
logger = logging.getLogger(__name__)


def enabled() -> bool:
    return getattr(settings, "PORTAL_PAGE_CACHE", True) and not _local.__dict__.get("migrating")


def store():
    """The cache pages and tokens live in: ``pages`` when configured, else the default."""
    return caches[ALIAS] if ALIAS in settings.CACHES else caches["default"]


def customer_token(pk: int) -> str:
    return f"pc:customer:{pk}"


def person_token(pk: int) -> str:
    return f"pc:person:{pk}"


class PageTable(DatabaseCache):
    """The database cache for kept pages and their tokens, where a write is one statement.

    Django's database cache counts the table and reads the row in a transaction of its own
    before each write: six round trips for every token a commit replaces. Here a write is
    one ``INSERT ... ON CONFLICT DO UPDATE`` (PostgreSQL and SQLite alike), and the table
    is culled every ``CULL_EVERY`` writes instead of counted at each. Reads are Django's.
    """

    CULL_EVERY = 100

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._writes = 0

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> None:
        self.set_many({key: value}, timeout, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None) -> list:
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        if not data or connection.vendor not in ("postgresql", "sqlite"):
            return super().set_many(data, timeout, version) if data else []
        timeout = self.get_backend_timeout(timeout)
        if timeout is None:
            expires = dt.datetime.max  # noqa: DTZ901  (as Django's database cache writes "never")
        else:
            expires = dt.datetime.fromtimestamp(timeout, tz=dt.UTC if settings.USE_TZ else None)
        expires = connection.ops.adapt_datetimefield_value(expires.replace(microsecond=0))
        rows = []
        for key, value in data.items():
            pickled = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            rows += [self.make_and_validate_key(key, version=version), pickled, expires]
        quote = connection.ops.quote_name
        table, key_, value_, expires_ = (quote(name) for name in (self._table, "cache_key", "value", "expires"))
        placeholders = ", ".join(["(%s, %s, %s)"] * len(data))
        with connection.cursor() as cursor:
            self._writes += 1
            if self._writes % self.CULL_EVERY == 0:
                cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608  (our own table's name)
                count = cursor.fetchone()[0]
                if count > self._max_entries:
                    self._cull(db, cursor, timezone.now().replace(microsecond=0), count)
            cursor.execute(
                f"INSERT INTO {table} ({key_}, {value_}, {expires_}) VALUES {placeholders} "  # noqa: S608
                f"ON CONFLICT ({key_}) DO UPDATE SET {value_} = excluded.{value_}, {expires_} = excluded.{expires_}",
                rows,
            )
        return []


# --- reading ---------------------------------------------------------------------------


def fetch(slot: str, *, customer: int | None, person: int) -> tuple[tuple | None, object | None]:
    """The current tokens for ``customer`` and ``person``, and what ``slot`` holds if it was
    kept under those same tokens (else None): one round trip to the cache. Tokens are None
    when the cache cannot be read (then the page is rendered and not kept)."""
    keys = [SITE, customer_token(customer), person_token(person), slot]
    flush_loose()
    try:
        found = store().get_many(keys)
    except Exception:
        logger.exception("Kept customer pages: the cache cannot be read; rendering afresh")
        return None, None
    tokens = (found.get(SITE), found.get(keys[1]), found.get(keys[2]))
    kept = found.get(slot)
    if kept is not None and kept[0] == tokens and not _dirty():
        return tokens, kept[1]
    return tokens, None


def keep(slot: str, tokens: tuple | None, value: object) -> None:
    """Keep ``value`` in ``slot`` under the tokens read before it was rendered."""
    if tokens is None or _dirty():
        return  # rendered inside a transaction that changed rows: not committed yet
    try:
        store().set(slot, (tokens, value), getattr(settings, "PORTAL_PAGE_CACHE_SECONDS", 900))
    except Exception:
        logger.exception("Kept customer pages: could not keep %s", slot)


# --- changing --------------------------------------------------------------------------


@dataclass
class _Pending:
    """Tokens this transaction has replaced, to replace again when it commits."""

    keys: set[str] = field(default_factory=set)
    hooks: list | None = None  # the connection's list of commit hooks it was added to

    def flush(self) -> None:
        _replace(self.keys)
        self.keys = set()


def _replace(keys: Iterable[str]) -> None:
    keys = list(keys)
    if not keys or _local.__dict__.get("migrating"):
        return
    whose = getattr(_local, "attributed", None)
    if whose is not None:  # inside ``writes_for``: replaced once, when the block ends
        whose.replaced.update(keys)
        return
    if SITE in keys:
        keys = [SITE]  # every kept page is under the site's token: the others need not change too
    try:
        store().set_many({key: secrets.token_hex(8) for key in keys}, None)
    except Exception:
        # The change itself is made; a cache that cannot be written must not undo it.
        logger.exception("Kept customer pages: could not replace the tokens %s", keys)


def _dirty() -> bool:
    """Whether this thread's connection is in a transaction that has changed rows."""
    connection = connections[DEFAULT_DB_ALIAS]
    pending = getattr(_local, "pending", None)
    return bool(connection.in_atomic_block and pending is not None and pending.keys and _registered(pending))


def _registered(pending: _Pending) -> bool:
    """Whether ``pending.flush`` is still to run on commit: Django appends to one list of
    commit hooks and replaces the list when it runs them or rolls back to a savepoint."""
    hooks = connections[DEFAULT_DB_ALIAS].run_on_commit
    if hooks is pending.hooks:
        return True
    if any(entry[1] == pending.flush for entry in hooks):
        pending.hooks = hooks
        return True
    return False


def changed(
    *, customers: Iterable[int] = (), people: Iterable[int] = (), site: bool = False, _later: bool = False
) -> None:
    """Replace the tokens of these customers and people (or the site's): at once outside a
    transaction, else when it commits (until then this connection's reads render afresh and
    keep nothing; other connections cannot see the change yet). Never inside the
    transaction: a token row written there would be locked until it ends."""
    keys = {customer_token(pk) for pk in customers if pk is not None}
    keys |= {person_token(pk) for pk in people if pk is not None}
    if site:
        keys.add(SITE)
    if keys:
        _note(keys, later=_later)


def _note(keys: set[str], *, later: bool) -> None:
    connection = connections[DEFAULT_DB_ALIAS]
    if not connection.in_atomic_block:
        if later:
            # Seen from inside the statement's execution: its rows may not be read yet (an
            # INSERT ... RETURNING on SQLite), and the cache may share the connection. So
            # they are replaced before the connection's next statement, when a page is
            # read, or when the request, task or process ends, whichever is first.
            _local.__dict__.setdefault("loose", set()).update(keys)
        else:
            _replace(keys)
        return
    pending = getattr(_local, "pending", None)
    if pending is None or not _registered(pending):
        pending = _local.pending = _Pending()
        connection.on_commit(pending.flush)
        pending.hooks = connection.run_on_commit
    pending.keys |= keys


@dataclass
class Whose:
    """Whose rows the writes inside ``writes_for`` are; the block may add to it as it learns."""

    customers: set = field(default_factory=set)
    people: set = field(default_factory=set)
    replaced: set = field(default_factory=set)  # tokens changes in the block replaced meanwhile


@contextmanager
def writes_for(*, customers: Iterable[int] = (), people: Iterable[int] = ()) -> Iterator[Whose]:
    """Say whose rows the bulk writes inside are (``update()``, ``bulk_create()``, raw SQL),
    so that they replace those tokens, once, when the block ends, not the site's. The block
    may add whom it learns of (``whose.customers.add(...)``, e.g. from rows an
    ``UPDATE ... RETURNING`` claimed); nobody named means the rows are on no customer's
    page. The caller answers for the list being complete.

    Every other token the block's changes replace (a saved model, a transaction that
    commits) is replaced when it ends too, together with these, in one write to the cache:
    a batch of documents costs one write, not a few per document. Meanwhile a page may
    still be served as it was before the block; the block is a batch's few seconds."""
    whose = Whose(set(customers), set(people))
    previous = getattr(_local, "attributed", None)
    _local.attributed = whose
    try:
        yield whose
    finally:
        _local.attributed = previous
        keys = whose.replaced | {customer_token(pk) for pk in whose.customers if pk is not None}
        keys |= {person_token(pk) for pk in whose.people if pk is not None}
        if keys:
            _note(keys, later=False)


# --- seeing every change ---------------------------------------------------------------


def _owners(instance) -> tuple[set[int], set[int]] | None:
    """Whose row ``instance`` is, from its declaration; None if undeclared (the site's)."""
    from core import registry

    declaration = registry.declaration_for(instance.__class__)
    if declaration is None:
        return None
    customers = _follow(instance, declaration.customer_path)
    people = _follow(instance, declaration.person_path)
    if customers is None or people is None:
        return None
    return customers, people


def _follow(instance, path: str | None) -> set[int] | None:
    """The primary keys at the end of ``path`` from ``instance`` (an empty set for no path),
    or None when the path crosses a many-relation (then the caller takes the site's token)."""
    if path is None:
        return set()
    if path == "":
        return {instance.pk}
    current = instance
    parts = path.split("__")
    for index, part in enumerate(parts):
        field_ = current.__class__._meta.get_field(part)
        if not field_.is_relation or field_.many_to_many or field_.one_to_many or not field_.concrete:
            return None
        if index == len(parts) - 1:
            return {getattr(current, field_.attname)}
        if getattr(current, field_.attname) is None:
            return set()
        current = getattr(current, part)
    return set()


def _saved(sender, instance, raw=False, **_signal) -> None:
    if raw or not enabled() or instance.__class__._meta.apps is not global_apps:
        return  # a fixture being loaded, or a migration's historical model
    owners = _owners(instance)
    if owners is None:
        changed(site=True)
    else:
        changed(customers=owners[0], people=owners[1])


def _many_changed(sender, instance, action, **_signal) -> None:
    if action.startswith("post_"):
        _saved(sender, instance)


def _in_model_save() -> bool:
    """Whether the running statement comes from ``Model.save()``, whose signal says whose
    row it is."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code in _SIGNALLED:
            return True
        frame = frame.f_back
    return False


def flush_loose(**_signal) -> None:
    """Replace the tokens that writes outside a transaction changed and that wait (``_note``)."""
    loose = _local.__dict__.get("loose")
    if loose:
        _local.loose = set()
        _note(loose, later=False)


def _seen(execute, sql, params, many, context):
    if _local.__dict__.get("loose"):
        flush_loose()
    result = execute(sql, params, many, context)
    if enabled() and isinstance(sql, str):
        match = _WRITE.match(sql)
        # A CTE that writes (WITH ... UPDATE): whose rows, unknown.
        relevant = _relevant(match.group(1).lower()) if match else _WRITES_WITHIN.match(sql) is not None
        # Inside ``writes_for`` whose rows they are is replaced when the block ends.
        if relevant and getattr(_local, "attributed", None) is None and not _in_model_save():
            changed(site=True, _later=True)
    return result


def _relevant(table: str) -> bool:
    """Whether a page could read ``table``: a model's table, but for the ignored ones
    (a staging or temporary table is no model's; a cache table is no model's either)."""
    if table in IGNORED_TABLES or table.startswith(IGNORED_PREFIXES):
        return False
    return table in _model_tables()


@functools.cache
def _model_tables() -> frozenset[str]:
    from django.apps import apps

    return frozenset(model._meta.db_table.lower() for model in apps.get_models(include_auto_created=True))


def _watch(sender, connection, **_signal) -> None:
    if connection.alias == DEFAULT_DB_ALIAS and _seen not in connection.execute_wrappers:
        connection.execute_wrappers.append(_seen)


def _signalled_code() -> frozenset:
    from django.db.models import Model

    # The row's own INSERT or UPDATE (and its parents'), not what signal receivers run.
    return frozenset({Model._save_table.__code__})


_SIGNALLED = _signalled_code()


def _migrating(**_signal) -> None:
    _local.migrating = True


def _migrated(**_signal) -> None:
    _local.migrating = False


def connect() -> None:
    """Watch every change from now on (called once, by the accounts app when it is ready).
    While migrations run nothing is kept or replaced: the tables may not exist yet, and
    nothing is served from a database being migrated."""
    from celery.signals import task_postrun
    from django.core.signals import request_finished
    from django.db.backends.signals import connection_created
    from django.db.models.signals import post_migrate, pre_migrate

    pre_migrate.connect(_migrating, dispatch_uid="pagecache-migrating")
    post_migrate.connect(_migrated, dispatch_uid="pagecache-migrated")

    request_finished.connect(flush_loose, dispatch_uid="pagecache-request-finished")
    task_postrun.connect(flush_loose, dispatch_uid="pagecache-task-finished", weak=False)
    atexit.register(flush_loose)
    post_save.connect(_saved, dispatch_uid="pagecache-saved")
    m2m_changed.connect(_many_changed, dispatch_uid="pagecache-m2m")
    connection_created.connect(_watch, dispatch_uid="pagecache-watch")
    for connection in connections.all(initialized_only=True):
        _watch(None, connection)
