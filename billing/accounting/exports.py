"""Making an accounting export: the one write path of ``AccountingExport``.

``request_export`` checks what was asked (a format the export offers, a period, a firm
that is engaged), records the export and, when it is small (no more rows than
``AccountingSettings.background_above_rows``), builds it at once; a larger one is
announced (``accounting_export_requested``) and billing's tasks build it in the
background while the person watches its progress. Either way ``build_export`` writes
the file into a temporary file (memory does not grow with the period), stores it
privately with its SHA-256, and, for an export made for a firm of accountants, appends
one entry to the disclosure ledger in the same transaction: the firm, the purpose
(accounting), the legal basis (legal obligation), the kinds of data, every customer the
file covers and the file's SHA-256. ``expire_exports`` deletes files past their time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import tempfile

from django.conf import settings as django_settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts import audit
from accounts.correspondence.gateway import send_mail
from accounts.correspondence.models import MailKind
from accounts.models import Customer
from billing.accounting import formats
from billing.accounting.codes import Codes, ExportError
from billing.accounting.periods import Period
from billing.accounting.reports import REPORTS, Report, period_documents
from billing.models import Accountant, AccountingExport, AccountingFirm, AccountingSettings, Invoice
from core.registry import Category, LawfulBasis
from privacy.models import DisclosureEntry
from privacy.services.ledger import record_disclosure

logger = logging.getLogger(__name__)

Kind, Format = AccountingExport.Kind, AccountingExport.Format

FORMATS: dict[str, tuple[str, ...]] = {
    Kind.DAY_BOOK: (Format.CSV, Format.XLSX, Format.XERO_INVOICES, Format.XERO_CREDIT_NOTES, Format.SAGE),
    Kind.RECEIPTS: (Format.CSV, Format.XLSX),
    Kind.AGED_DEBTORS: (Format.CSV, Format.XLSX),
    Kind.LEDGER_CONTROL: (Format.CSV, Format.XLSX),
    Kind.VAT_RETURN: (Format.CSV, Format.XLSX),
    Kind.SERVICES: (Format.CSV, Format.XLSX),
    Kind.DOCUMENT_PACK: (Format.ZIP,),
}
PURPOSE = "Accounting: keeping the books and preparing the accounts and VAT returns"
COPY_BUFFER = 1024 * 1024

accounting_export_requested = Signal()


def check_choice(kind: str, fmt: str) -> None:
    if kind not in FORMATS:
        raise ExportError(f"{kind!r} is not an export: choose one of {', '.join(FORMATS)}.")
    if fmt not in FORMATS[kind]:
        offered = ", ".join(Format(f).label for f in FORMATS[kind])
        raise ExportError(f"The {Kind(kind).label.lower()} is not offered as {fmt!r}: choose {offered}.")


def make_report(export: AccountingExport, codes: Codes) -> Report:
    return REPORTS[export.kind](_period(export), codes=codes, as_at=export.as_at)


def _period(export: AccountingExport) -> Period:
    return Period(export.period_start, export.period_end, export.period_label)


def expected_rows(export: AccountingExport, codes: Codes) -> int:
    if export.kind == Kind.DOCUMENT_PACK:
        return period_documents(_period(export)).count()
    return make_report(export, codes).expected_rows()


def request_export(
    *, kind: str, fmt: str, period: Period, actor, firm: AccountingFirm | None, as_at: dt.date | None = None
) -> AccountingExport:
    """Record an export and build it now (small) or announce it for the background (large).

    Raises ``ExportError`` naming the problem for a format the export does not offer or a
    firm whose engagement has ended. A failed build is recorded with its reason and the
    reason is raised for a build made at once."""
    check_choice(kind, fmt)
    if firm is not None and not firm.is_engaged():
        raise ExportError(f"{firm} is not engaged today: staff keep the engagement dates in the admin.")
    codes = Codes.load()
    with transaction.atomic():
        export = AccountingExport.objects.create(
            kind=kind,
            format=fmt,
            period_start=period.start,
            period_end=period.end,
            period_label=period.label,
            as_at=as_at or (period.end if kind == Kind.AGED_DEBTORS else None),
            firm=firm,
            made_by=actor,
        )
        export.expected_rows = expected_rows(export, codes)
        export.save(update_fields=["expected_rows"])
        audit.record(
            "accounting.export_requested",
            actor=actor,
            target=export,
            summary=f"Asked for the {export.get_kind_display().lower()} for {period.label}, "
            f"{export.get_format_display()}" + (f", for {firm}" if firm else ", for our own use"),
        )
        background = export.expected_rows > codes.settings.background_above_rows
        if background:
            accounting_export_requested.send(sender=AccountingExport, export_pk=export.pk)
    if not background:
        export = build_export(export.pk)
        if export.status == AccountingExport.Status.FAILED:
            raise ExportError(export.error)
    return export


def _progress(export_id: int, done: int, expected: int) -> None:
    if expected:
        AccountingExport.objects.filter(pk=export_id, status=AccountingExport.Status.RUNNING).update(
            progress=min(99, done * 100 // expected)
        )


class _Progress:
    """Tells the export's row how far the report has got, every few thousand rows."""

    EVERY = 5000

    def __init__(self, export: AccountingExport) -> None:
        self.export = export
        self.reported = 0

    def tick(self, done: int) -> None:
        if done - self.reported >= self.EVERY:
            self.reported = done
            _progress(self.export.pk, done, self.export.expected_rows)

    def wrap(self, report: Report) -> Report:
        rows = report.rows

        def counted():
            for index, row in enumerate(rows(), start=1):
                self.tick(index)
                yield row

        report.rows = counted
        report.tick = self.tick
        return report


def _write(export: AccountingExport, codes: Codes, handle) -> tuple[formats.Written, tuple[str, ...]]:
    period = _period(export)
    if export.format == Format.XERO_INVOICES:
        return formats.write_xero(period, codes, handle, kind=Invoice.Kind.INVOICE), (
            Category.FINANCIAL,
            Category.IDENTITY,
        )
    if export.format == Format.XERO_CREDIT_NOTES:
        written = formats.write_xero(period, codes, handle, kind=Invoice.Kind.CREDIT_NOTE)
        return written, (Category.FINANCIAL, Category.IDENTITY)
    if export.format == Format.SAGE:
        return formats.write_sage(period, codes, handle), (Category.FINANCIAL,)
    if export.format == Format.ZIP:
        return formats.write_document_pack(period, codes, handle), (
            Category.FINANCIAL,
            Category.IDENTITY,
            Category.CONTACT,
        )
    report = _Progress(export).wrap(make_report(export, codes))
    writer = formats.write_xlsx if export.format == Format.XLSX else formats.write_csv
    return writer(report, handle), report.categories


def filename(export: AccountingExport, extension: str) -> str:
    period = f"{export.period_start:%Y-%m-%d}-to-{export.period_end:%Y-%m-%d}"
    what = slugify(export.get_kind_display())
    if export.format in (Format.XERO_INVOICES, Format.XERO_CREDIT_NOTES, Format.SAGE):
        what += "-" + slugify(export.format)
    return f"{what}-{period}.{extension}"


def build_export(export_id: int, *, in_background: bool = False) -> AccountingExport:
    """Write, store and (for a firm) disclose one export. Running it again does nothing.

    ``in_background``: nobody is watching the page, so an accountant who asked for it is
    also emailed when it is ready (``tell_accountant``)."""
    claimed = AccountingExport.objects.filter(pk=export_id, status=AccountingExport.Status.QUEUED).update(
        status=AccountingExport.Status.RUNNING, progress=0, error=""
    )
    export = AccountingExport.objects.select_related("firm", "made_by").get(pk=export_id)
    if not claimed:
        return export
    name = ""
    try:
        codes = Codes.load()
        with tempfile.TemporaryFile() as handle:
            written, categories = _write(export, codes, handle)
            digest = _sha256_of(handle)
            export.filename = filename(export, written.extension)
            name = default_storage.save(
                f"billing/accounting/{digest[:2]}/{digest}/{export.filename}", File(handle, name=export.filename)
            )
        _finish(export, name, digest, written, categories, codes.settings, notify=in_background)
    except Exception as exc:
        if name:
            default_storage.delete(name)
        if not isinstance(exc, ExportError):
            logger.exception("Accounting export %s failed", export_id)
        message = (
            str(exc) if isinstance(exc, ExportError) else f"The export could not be made ({type(exc).__name__}: {exc})."
        )
        AccountingExport.objects.filter(pk=export_id, status=AccountingExport.Status.RUNNING).update(
            status=AccountingExport.Status.FAILED, error=message[:2000], finished_at=timezone.now()
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


def _finish(
    export, name: str, digest: str, written: formats.Written, categories, settings: AccountingSettings, *, notify: bool
) -> None:
    now = timezone.now()
    note = written.note
    if not written.rows:
        note = (
            f"The period has no {export.get_kind_display().lower()} data: the file is valid and empty. " + note
        ).strip()
    with transaction.atomic():
        entry = None
        if export.firm_id is not None and written.customer_ids:
            entry = record_disclosure(
                recipient_kind=DisclosureEntry.Recipient.ACCOUNTANT,
                recipient=export.firm.name,
                recipient_address=export.firm.address_line[:320],
                purpose=PURPOSE,
                legal_basis=LawfulBasis.LEGAL_OBLIGATION,
                categories=[str(c) for c in categories],
                customers=Customer.objects.filter(pk__in=written.customer_ids).only("pk"),
                summary=f"{export.get_kind_display()} for {export.period_label or export.period_start}, "
                f"{export.get_format_display()}.",
                artefact_sha256=digest,
                actor=export.made_by,
            )
        finished = AccountingExport.objects.filter(pk=export.pk, status=AccountingExport.Status.RUNNING).update(
            status=AccountingExport.Status.READY,
            progress=100,
            file=name,
            filename=export.filename,
            sha256=digest,
            rows=written.rows,
            customers=len(written.customer_ids),
            note=note[:500],
            disclosure_sequence=entry.sequence if entry else None,
            finished_at=now,
            expires_at=now + dt.timedelta(days=settings.keep_files_days),
        )
        if not finished:
            raise ExportError("The export was changed while it was being made.")
        if notify:
            export.refresh_from_db()
            tell_accountant(export)
        if entry is not None:
            audit.record(
                "accounting.export_disclosed",
                actor=audit.System("accounting exports"),
                target=export,
                summary=f"Disclosed to {export.firm} as ledger entry #{entry.sequence}, "
                f"covering {len(written.customer_ids)} customers",
            )


def tell_accountant(export: AccountingExport) -> None:
    """Email the accountant who asked for ``export`` that it is ready, with a link to its
    page (never the file: it is downloaded signed in, with two-factor authentication).
    Staff who made an export for a firm in the admin are not emailed: they see the list."""
    accountant = Accountant.objects.filter(user=export.made_by_id, firm=export.firm_id).select_related("user").first()
    if accountant is None or export.firm_id is None:
        return
    base = (getattr(django_settings, "PORTAL_BASE_URL", "") or "").rstrip("/")
    path = reverse("accounting:export", args=[export.pk])
    send_mail(
        kind=MailKind.BILLING,
        template="accounting_export_ready",
        context={"export": export, "link": f"{base}{path}" if base else "", "firm": export.firm},
        idempotency_key=f"accounting-export-ready-{export.pk}",
        to=[accountant.user.email],
        person=accountant.user,
        related=export,
    )


def expire_exports(*, now: dt.datetime | None = None) -> int:
    """Delete the files of ready exports past their time; return how many."""
    now = now or timezone.now()
    expired = 0
    due = AccountingExport.objects.filter(status=AccountingExport.Status.READY, expires_at__lte=now).only("pk", "file")
    for export in due.iterator(chunk_size=500):
        # Marked first: a download racing the sweep sees "expired", never a missing file.
        if AccountingExport.objects.filter(pk=export.pk, status=AccountingExport.Status.READY).update(
            status=AccountingExport.Status.EXPIRED, file=""
        ):
            if export.file.name:
                default_storage.delete(export.file.name)
            expired += 1
    return expired


def stale_export_ids(*, older_than: dt.timedelta = dt.timedelta(minutes=10)) -> list[int]:
    """Exports still queued long after they were asked for (the broker was down)."""
    stale = AccountingExport.objects.filter(
        status=AccountingExport.Status.QUEUED, created_at__lte=timezone.now() - older_than
    )
    return list(stale.values_list("pk", flat=True))
