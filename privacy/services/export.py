"""The data-subject export (UK GDPR Art 15 access, Art 20 portability).

For one customer (or one person) the export walks every declaration in the registry
(``core.registry``; docs/privacy-export.md) and writes a ZIP:

- ``<category>/<app>.<model>.json`` and ``.csv`` for each declared model, filed under
  the declaration's first category, with the declaration's portable fields (or its
  fields). Never exported: fields named ``password`` (a hash is no use to the person and
  a gift to an attacker) and fields the declaration lists as ``not_personal`` (such as
  an authenticator's secret).
- ``files/...``: the files of file fields (email attachments), as they are stored.
- ``index.html``: what each category and model is, why we hold it, on what basis, for
  how long, and who received it (the disclosure ledger); ``manifest.json``: the same
  index for machines.

Rows are streamed with ``.iterator()`` into a temporary file, so memory stays flat
however long the history. The ZIP is stored privately with its SHA-256, downloadable by
the requester until it expires, and the export itself is recorded in the ledger.

``request_export`` creates the row and announces it (``export_requested``); privacy's
tasks answer by queuing ``privacy.tasks.build_export``, sent after commit.
``build_export`` claims the row with a conditional UPDATE (queued → running), so a task
delivered twice builds once; ``expire_exports`` deletes the files of expired exports.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
import json
import logging
import re
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.dispatch import Signal
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from accounts import audit
from accounts.audit import System
from core.registry import Category, PersonalData
from privacy.models import DataExport, DisclosureEntry
from privacy.services import what_we_hold
from privacy.services.ledger import record_disclosure

logger = logging.getLogger(__name__)

EXPORT_LIFETIME = dt.timedelta(days=7)
# Never exported, whatever a declaration lists: a password hash helps only an attacker.
NEVER_EXPORTED = frozenset({"password"})
# Earlier exports are listed but not copied in: each would contain the one before it.
FILES_NOT_COPIED = frozenset({"privacy.DataExport"})
CHUNK_SIZE = 500
COPY_BUFFER = 1024 * 1024
# Spreadsheets run a text cell that starts with one of these as a formula (CSV
# injection); text from outside (an email subject) could. In the CSV such a cell starts
# with an apostrophe, which spreadsheets read as "this is text" and do not display; the
# JSON has every value exactly. A cell that is only a number or a telephone number
# ("-12.50", "+44 113 496 0000") runs nothing and is left as it is.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_LIKE = re.compile(r"[+-][0-9 ().,/+-]*")

LEDGER_PURPOSE = "Data-subject access/portability export"
LEDGER_BASIS = "UK GDPR Art 15/20"


# ---------------------------------------------------------------------------------------
# Requesting and building
# ---------------------------------------------------------------------------------------


# Sent in the transaction that created an export, with ``export_pk``: privacy's tasks
# queue its build (``privacy.apps``), so this module does not import the tasks that call it.
export_requested = Signal()


def request_export(*, requested_by, customer=None, person=None, request=None) -> DataExport:
    """Create an export of ``customer``'s (or ``person``'s) data and queue its build.

    An export of the same data for the same requester that is still queued or being
    prepared is returned instead of starting a second one (a double-clicked button).
    """
    if (customer is None) == (person is None):
        raise ValueError("Export a customer's data or a person's, not both.")
    with transaction.atomic():
        pending = DataExport.objects.filter(
            requested_by=requested_by,
            customer=customer,
            person=person,
            status__in=[DataExport.Status.QUEUED, DataExport.Status.RUNNING],
        ).first()
        if pending is not None:
            return pending
        export = DataExport.objects.create(requested_by=requested_by, customer=customer, person=person, request=request)
        audit.record(
            "privacy.export_requested",
            actor=requested_by if requested_by is not None else System("privacy requests"),
            target=export,
            customer=customer,
            summary="Asked for an export of the account's data" if customer else "Asked for an export of their data",
            security=True,
        )
        # Its task is sent when the transaction commits; if the broker is down the row stays
        # queued and the hourly task queues it again (stale_export_ids).
        export_requested.send(sender=DataExport, export_pk=export.pk)
    return export


@dataclass
class ModelSection:
    """One declared model in the ZIP: where its files are and how many rows it had."""

    label: str
    name: str
    declaration: PersonalData
    category: Category
    json_path: str
    csv_path: str
    columns: list[str]
    rows: int = 0
    files: int = 0
    missing_files: int = 0
    erasure: str = ""
    personal: bool = False  # about the requester alone, not the customer ("About you personally")

    @property
    def basis(self) -> str:
        return what_we_hold.basis_label(self.declaration)

    @property
    def other_categories(self) -> list[Category]:
        return [c for c in self.declaration.categories if c != self.category]


@dataclass
class CategorySection:
    category: Category
    models: list[ModelSection] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)


def build_export(export_id: int) -> DataExport:
    """Build the ZIP of one export. Running it again on a built export does nothing."""
    claimed = DataExport.objects.filter(pk=export_id, status=DataExport.Status.QUEUED).update(
        status=DataExport.Status.RUNNING, progress=0, error=""
    )
    export = DataExport.objects.select_related("customer", "person", "requested_by", "request").get(pk=export_id)
    if not claimed:
        return export  # another worker has it, or it is finished
    try:
        with tempfile.TemporaryFile(suffix=".zip") as archive_file:
            sections = _write_archive(export, archive_file)
            digest = _sha256_of(archive_file)
            name = _store(export, archive_file, digest)
        try:
            _finish(export, name, digest, sections)
        except Exception:
            default_storage.delete(name)  # no ready export points at it
            raise
    except Exception as exc:
        logger.exception("Data export %s failed", export_id)
        DataExport.objects.filter(pk=export_id, status=DataExport.Status.RUNNING).update(
            status=DataExport.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
    export.refresh_from_db()
    return export


def _sha256_of(handle) -> str:
    handle.seek(0)
    digest = hashlib.sha256()
    while chunk := handle.read(COPY_BUFFER):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


def download_filename(export: DataExport) -> str:
    whose = export.customer.display_name if export.customer_id else (export.person.email if export.person_id else "")
    day = (export.finished_at or export.created_at).date().isoformat()
    return f"data-export-{slugify(whose)[:40] or export.pk}-{day}.zip"


def _store(export: DataExport, handle, digest: str) -> str:
    # Private storage under the hash, as accounts.correspondence.gateway.store_file does,
    # but streamed from the temporary file rather than read into memory.
    name = f"privacy/exports/{digest[:2]}/{digest}/{download_filename(export)}"
    handle.seek(0)
    return default_storage.save(name, File(handle, name=name))


def _finish(export: DataExport, name: str, digest: str, sections: list[CategorySection]) -> None:
    now = timezone.now()
    categories = sorted({c for s in sections for m in s.models if m.rows for c in m.declaration.categories})
    rows = sum(m.rows for s in sections for m in s.models)
    files = sum(m.files for s in sections for m in s.models)
    recipient = export.requested_by.email
    if export.request_id and export.request.requester_email:
        recipient = export.request.requester_email  # staff fulfilling a request send it on
    with transaction.atomic():
        finished = DataExport.objects.filter(pk=export.pk, status=DataExport.Status.RUNNING).update(
            status=DataExport.Status.READY,
            progress=100,
            file=name,
            sha256=digest,
            finished_at=now,
            expires_at=now + EXPORT_LIFETIME,
        )
        if not finished:
            default_storage.delete(name)
            return
        record_disclosure(
            recipient_kind=DisclosureEntry.Recipient.DATA_SUBJECT,
            recipient=recipient,
            purpose=LEDGER_PURPOSE,
            legal_basis=LEDGER_BASIS,
            categories=[str(c) for c in categories],
            customers=[export.customer] if export.customer_id else [],
            summary=f"Export #{export.pk}: a ZIP of {rows} records and {files} files.",
            artefact_sha256=digest,
            actor=export.requested_by,
        )


def _set_progress(export_id: int, percent: int) -> None:
    DataExport.objects.filter(pk=export_id, status=DataExport.Status.RUNNING).update(progress=min(percent, 99))


# ---------------------------------------------------------------------------------------
# Writing the ZIP
# ---------------------------------------------------------------------------------------


def exported_fields(model: type[models.Model], declaration: PersonalData) -> list[models.Field]:
    """The primary key, then the declaration's portable fields (or fields), minus secrets and
    staff's internal notes (``internal``)."""
    names = declaration.shown_fields()
    excluded = NEVER_EXPORTED | set(declaration.not_personal) | set(declaration.internal)
    pk = model._meta.pk
    chosen = [pk]
    for name in names:
        if name in excluded or name == pk.name:
            continue
        candidate = model._meta.get_field(name)
        if getattr(candidate, "concrete", False) or candidate.many_to_many:
            chosen.append(candidate)
    return chosen


@dataclass(frozen=True)
class ContextColumn:
    """A column that explains a row (``PersonalData.context``): ``plan.name`` for ``plan__name``."""

    path: str
    field: models.Field

    @property
    def name(self) -> str:
        return self.path.replace("__", ".")

    @property
    def text(self) -> bool:
        return not _is_number(self.field)

    def value_of(self, obj: models.Model):
        parts = self.path.split("__")
        for part in parts[:-1]:
            obj = getattr(obj, part)
            if obj is None:
                return None
        return getattr(obj, self.field.attname)


def context_columns(model: type[models.Model], declaration: PersonalData, chosen: list[models.Field]) -> list:
    """The declaration's context paths not already among ``chosen``, never a secret."""
    taken = {f.name for f in chosen}
    excluded = NEVER_EXPORTED | set(declaration.not_personal) | set(declaration.internal)
    columns = []
    for path in declaration.context:
        if path in taken or path in excluded:
            continue
        current, found = model, None
        for part in path.split("__"):
            found = current._meta.get_field(part)
            if found.is_relation:
                current = found.related_model
        if found.name in NEVER_EXPORTED:
            continue
        columns.append(ContextColumn(path, found))
    return columns


def _is_number(f: models.Field) -> bool:
    return f.is_relation or isinstance(f, models.DecimalField | models.IntegerField | models.FloatField)


def _plain(value):
    """A value as JSON has it: text, numbers, booleans, lists and objects."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return str(value)


def csv_cell(value, *, text: bool = True) -> str:
    """A value as a CSV cell. ``text``: it came from a text field (not a number or a date),
    so a spreadsheet could take it for a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    cell = str(value)
    if text and cell.startswith(FORMULA_START) and not _NUMBER_LIKE.fullmatch(cell):
        return "'" + cell
    return cell


def _model_slug(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def _file_path(model: type[models.Model], pk, field_name: str, stored_name: str) -> str:
    base = PurePosixPath(stored_name).name or "file"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)[-100:]
    return f"files/{_model_slug(model)}/{pk}/{field_name}/{safe}"


def _write_model(archive: zipfile.ZipFile, model, declaration: PersonalData, rows, category: Category) -> ModelSection:
    chosen = exported_fields(model, declaration)
    context = context_columns(model, declaration, chosen)
    folder = f"{category.value}/{_model_slug(model)}"
    section = ModelSection(
        label=declaration.model,
        name=str(model._meta.verbose_name_plural).capitalize(),
        declaration=declaration,
        category=category,
        json_path=f"{folder}.json",
        csv_path=f"{folder}.csv",
        columns=[f.name for f in chosen] + [c.name for c in context],
        erasure=what_we_hold.erasure_in_words(model, declaration),
    )
    many = [f.name for f in chosen if f.many_to_many]
    text_columns = [not _is_number(f) for f in chosen] + [c.text for c in context]
    related = sorted({c.path.rsplit("__", 1)[0] for c in context if "__" in c.path})
    if related:
        rows = rows.select_related(*related)
    copy_files = declaration.model not in FILES_NOT_COPIED
    pending_files: list[tuple[str, str]] = []  # (stored name, path in the ZIP)
    if many:
        rows = rows.prefetch_related(*many)
    header = {
        "model": declaration.model,
        "name": section.name,
        "description": declaration.description,
        "categories": [c.value for c in declaration.categories],
        "purpose": declaration.purpose,
        "lawful_basis": section.basis,
        "retention": declaration.retention.description,
        "fields": section.columns,
        # Data the person gave us or that was observed about them (portability, Art 20) ...
        "portable_fields": [f.name for f in chosen if not f.primary_key],
        # ... and what explains each row: amounts, numbers, dates, names of related things.
        "context_fields": [c.name for c in context],
    }
    with tempfile.TemporaryFile() as csv_raw:
        csv_text = io.TextIOWrapper(csv_raw, encoding="utf-8", newline="")
        writer = csv.writer(csv_text)
        writer.writerow(section.columns)
        with io.TextIOWrapper(archive.open(section.json_path, "w", force_zip64=True), encoding="utf-8") as out:
            out.write(json.dumps(header, ensure_ascii=False, indent=1)[:-2] + ',\n "rows": [')
            for obj in rows.order_by("pk").iterator(chunk_size=CHUNK_SIZE):
                record = {}
                for f in chosen:
                    if f.many_to_many:
                        value = sorted(related.pk for related in getattr(obj, f.name).all())
                    elif f.is_relation:
                        value = getattr(obj, f.attname)
                    elif isinstance(f, models.FileField):
                        stored = getattr(obj, f.attname)
                        value = ""
                        if stored and stored.name:
                            # Never our storage path: the file's place in the ZIP, or, for a
                            # file not copied in (an earlier export), its name alone.
                            value = (
                                _file_path(model, obj.pk, f.name, stored.name)
                                if copy_files
                                else PurePosixPath(stored.name).name
                            )
                            if copy_files:
                                pending_files.append((stored.name, value))
                    else:
                        value = f.value_from_object(obj)
                    record[f.name] = _plain(value)
                for column in context:
                    record[column.name] = _plain(column.value_of(obj))
                out.write(("," if section.rows else "") + "\n  " + json.dumps(record, ensure_ascii=False))
                writer.writerow(
                    [
                        csv_cell(record[name], text=text)
                        for name, text in zip(section.columns, text_columns, strict=True)
                    ]
                )
                section.rows += 1
            out.write("\n ]\n}\n")
        csv_text.flush()
        csv_raw.seek(0)
        with archive.open(section.csv_path, "w", force_zip64=True) as dest:
            shutil.copyfileobj(csv_raw, dest, COPY_BUFFER)
        csv_text.detach()
    for stored_name, path in pending_files:
        try:
            with default_storage.open(stored_name, "rb") as source, archive.open(path, "w", force_zip64=True) as dest:
                shutil.copyfileobj(source, dest, COPY_BUFFER)
            section.files += 1
        except FileNotFoundError:
            logger.warning("Export: %s is missing from storage", stored_name)
            section.missing_files += 1
    return section


def export_sources(export: DataExport) -> list[what_we_hold.Source]:
    """What an export covers: the same list as the "what we hold" page shows its requester.

    A customer export made by someone who acts for the customer also holds their own
    records about them personally; one staff make for a customer holds the customer's.
    """
    if not export.customer_id:
        return what_we_hold.sources(person=export.person)
    acts_for_customer = export.requested_by.memberships.filter(customer_id=export.customer_id).exists()
    return what_we_hold.sources(customer=export.customer, person=export.requested_by if acts_for_customer else None)


def _write_archive(export: DataExport, handle) -> list[CategorySection]:
    plan = export_sources(export)
    by_category = {category: CategorySection(category) for category in Category}
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for done, source in enumerate(plan, start=1):
            category = what_we_hold.primary_category(source.declaration)
            section = _write_model(archive, source.model, source.declaration, source.rows(), category)
            section.personal = source.personal and export.customer_id is not None
            by_category[category].models.append(section)
            _set_progress(export.pk, 100 * done // (len(plan) + 1))
        sections = [s for s in by_category.values() if s.models]
        disclosures = _disclosures(export, sections)
        context = {
            "export": export,
            "customer": export.customer,
            "person": export.person,
            "generated_at": timezone.now(),
            "sections": sections,
            "disclosures": disclosures,
            "lifetime_days": EXPORT_LIFETIME.days,
        }
        archive.writestr("index.html", render_to_string("privacy/export_index.html", context))
        archive.writestr("manifest.json", json.dumps(_manifest(export, sections, disclosures), indent=1))
    return sections


def _disclosures(export: DataExport, sections: list[CategorySection]) -> list[DisclosureEntry]:
    """Who received the customer's data (UK GDPR Art 15(1)(c)): the entries they may see."""
    if not export.customer_id:
        return []
    entries = list(
        DisclosureEntry.objects.visible_to_customer(export.customer)
        .only("sequence", "recipient_kind", "recipient", "purpose", "legal_basis", "categories", "created_at")
        .order_by("created_at", "sequence")
    )
    for section in sections:
        section.recipients = sorted({e.recipient for e in entries if section.category.value in e.categories})
    return entries


def _manifest(export: DataExport, sections: list[CategorySection], disclosures: list[DisclosureEntry]) -> dict:
    return {
        "export": export.pk,
        "customer": export.customer_id,
        "person": export.person_id,
        "generated_at": timezone.now().isoformat(),
        "categories": [
            {
                "category": s.category.value,
                "description": s.category.description,
                "recipients": s.recipients,
                "models": [
                    {
                        "model": m.label,
                        "about": "you personally" if m.personal else ("the customer" if export.customer_id else "you"),
                        "description": m.declaration.description,
                        "purpose": m.declaration.purpose,
                        "lawful_basis": m.basis,
                        "retention": m.declaration.retention.description,
                        "erasure": m.erasure,
                        "also_in_categories": [c.value for c in m.other_categories],
                        "rows": m.rows,
                        "files": m.files,
                        "json": m.json_path,
                        "csv": m.csv_path,
                    }
                    for m in s.models
                ],
            }
            for s in sections
        ],
        "disclosures": [
            {
                "date": e.created_at.isoformat(),
                "recipient": e.recipient,
                "recipient_kind": e.get_recipient_kind_display(),
                "purpose": e.purpose,
                "legal_basis": e.legal_basis,
                "categories": e.categories,
            }
            for e in disclosures
        ],
    }


# ---------------------------------------------------------------------------------------
# Expiry
# ---------------------------------------------------------------------------------------


def expire_exports(*, now: dt.datetime | None = None) -> int:
    """Delete the files of ready exports whose link has expired; return how many."""
    now = now or timezone.now()
    expired = 0
    due = DataExport.objects.filter(status=DataExport.Status.READY, expires_at__lte=now).only("pk", "file")
    for export in due.iterator(chunk_size=CHUNK_SIZE):
        # Mark first: a download racing the sweep then sees "expired", never a missing file.
        if DataExport.objects.filter(pk=export.pk, status=DataExport.Status.READY).update(
            status=DataExport.Status.EXPIRED, file=""
        ):
            if export.file.name:
                default_storage.delete(export.file.name)
            expired += 1
    return expired


def stale_export_ids(*, older_than: dt.timedelta = dt.timedelta(minutes=10)) -> list[int]:
    """Exports still queued long after they were requested: the broker was down, so the
    hourly task (``privacy.tasks.expire_exports``) queues them again."""
    stale = DataExport.objects.filter(status=DataExport.Status.QUEUED, created_at__lte=timezone.now() - older_than)
    return list(stale.values_list("pk", flat=True))
