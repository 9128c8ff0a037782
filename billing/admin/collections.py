"""Collections in the admin: the schedule, reference rates, agencies and settings staff
keep; pauses, charges, waivers, disputes, letters, replies, handoffs and write-offs, each
made through its service (``billing.collections``) so its checks and side effects apply,
and never edited or deleted afterwards."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils import timezone

from accounts.adminkit import ViewOnlyPage, customer_choice
from billing.admin.base import RecordedThroughService, RefusalShown, SingletonAdmin, form_action
from billing.collections.charges import charge_late_payment, waive_charges
from billing.collections.disputes import reject_dispute, resolve_dispute
from billing.collections.handoff import check_handoff, hand_off, record_event, write_off
from billing.collections.letters import handoff_wait, record_answer, record_posting, send_letter
from billing.collections.models import (
    REPLY_SECTIONS,
    CollectionAgency,
    CollectionsPause,
    CollectionsSettings,
    Dispute,
    DunningStep,
    Handoff,
    HandoffEvent,
    LatePaymentCharge,
    LatePaymentWaiver,
    Letter,
    LetterReply,
    ReferenceRate,
    ReferenceRateCheck,
    ReminderSent,
    SuspensionNotice,
    WriteOff,
)
from billing.collections.rates import checked_to, confirm_rates
from billing.collections.reminders import end_pause, pause_reminders
from billing.collections.suspension import give_notice
from billing.models import Invoice
from core.files import read_verified


class OpenDocuments:
    """The documents a letter or handoff is about are chosen among open ones."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "invoices":
            kwargs["queryset"] = Invoice.objects.open().select_related("customer").order_by("customer", "due_on")
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class Recorded(RecordedThroughService):
    """``RecordedThroughService`` whose form object takes on everything the service set,
    so the admin's log and messages name the record as it was made."""

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return
        created = self.create(request, form.cleaned_data)
        for field in created._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False


def _errors(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


@admin.register(CollectionsSettings)
class CollectionsSettingsAdmin(SingletonAdmin):
    """One row: the list opens it (or the form for it while none is saved)."""


@admin.register(DunningStep)
class DunningStepAdmin(admin.ModelAdmin):
    list_display = ["name", "days_after_due", "is_final", "active"]
    list_editable = ["active"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # reminders sent name their step: retire one by unticking Active


@admin.register(ReferenceRate)
class ReferenceRateAdmin(admin.ModelAdmin):
    list_display = ["valid_from", "rate", "source"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        confirmed = checked_to()
        if confirmed:
            messages.info(request, f"Confirmed complete up to {confirmed:%-d %B %Y} (Reference rate checks).")
        return super().changelist_view(request, extra_context)


@admin.register(ReferenceRateCheck)
class ReferenceRateCheckAdmin(Recorded):
    """Confirming the table up to a day lets interest be worked out for reference days up to it."""

    list_display = ["checked_to", "source", "checked_by", "checked_at"]
    fields = ["checked_to", "source"]
    readonly_after_creation = ("checked_at", "checked_by")

    def create(self, request, data) -> ReferenceRateCheck:
        return confirm_rates(checked_to=data["checked_to"], source=data["source"], actor=request.user)


@admin.register(CollectionAgency)
class CollectionAgencyAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "email", "reference", "active"]
    list_filter = ["kind", "active"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReminderSent)
class ReminderSentAdmin(admin.ModelAdmin):
    list_display = ["invoice", "step", "sent_at", "skipped", "message"]
    list_filter = ["step", "skipped"]
    list_select_related = ["invoice", "step", "message"]
    search_fields = ["invoice__number", "invoice__customer__registered_name"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class EndPauseForm(forms.Form):
    confirm = forms.BooleanField(label="End these pauses now: reminders resume from the next run.")


@admin.register(CollectionsPause)
class CollectionsPauseAdmin(Recorded):
    list_display = ["customer", "reason", "until", "created_by", "created_at", "ended_at"]
    list_filter = [("ended_at", admin.EmptyFieldListFilter)]
    autocomplete_fields = ["customer"]
    fields = ["customer", "reason", "until"]
    readonly_after_creation = ("created_by", "created_at", "ended_at", "ended_by")
    actions = ["end_pauses"]

    def create(self, request, data) -> CollectionsPause:
        return pause_reminders(data["customer"], reason=data["reason"], until=data["until"], actor=request.user)

    @admin.action(description="End pauses", permissions=["change"])
    def end_pauses(self, request, queryset) -> None:
        ended = sum(end_pause(pause, actor=request.user) for pause in queryset)
        messages.success(request, f"Ended {ended} pause(s): reminders resume from the next run.")


class ChargeForm(forms.ModelForm):
    customer = customer_choice(
        Invoice._meta.get_field("customer"),
        help_text="Issue one late-payment claim for the interest accrued to today and the compensation on each of "
        "the customer's overdue invoices (business customers only, when charges are turned on).",
    )

    class Meta:
        model = LatePaymentCharge
        fields: list[str] = []


@admin.register(LatePaymentCharge)
class LatePaymentChargeAdmin(ViewOnlyPage, RefusalShown):
    """Charging issues a claim document; a claim is cancelled like any document, by a credit note."""

    refused = "Nothing was charged"
    list_display = ["claim", "debt", "interest", "compensation", "interest_from", "interest_to", "annual_rate"]
    list_select_related = ["claim", "debt"]
    search_fields = ["claim__number", "debt__number", "debt__customer__registered_name"]
    form = ChargeForm

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["customer"]
        return [f.name for f in LatePaymentCharge._meta.fields if f.name != "id"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        claim = charge_late_payment(form.cleaned_data["customer"], actor=request.user)
        created = claim.late_payment_charges.first()
        for field in created._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        messages.success(request, f"Issued late-payment claim {claim.number} for {claim.total_gross} {claim.currency}.")

    def save_related(self, request, form, formsets, change) -> None:
        return None


@admin.register(LatePaymentWaiver)
class LatePaymentWaiverAdmin(Recorded):
    list_display = ["invoice", "reason", "waived_by", "created_at"]
    raw_id_fields = ["invoice"]
    fields = ["invoice", "reason"]
    readonly_after_creation = ("waived_by", "created_at")

    def create(self, request, data) -> LatePaymentWaiver:
        return waive_charges(data["invoice"], reason=data["reason"], actor=request.user)


class ResolveForm(forms.Form):
    reason = forms.CharField(max_length=300, help_text="Printed on the credit note and emailed.")
    whole_document = forms.BooleanField(
        required=False, help_text="Credit the whole document, not only the lines disputed."
    )


class RejectForm(forms.Form):
    reasons = forms.CharField(widget=forms.Textarea, help_text="Emailed to the customer's billing contacts.")


@admin.register(Dispute)
class DisputeAdmin(ViewOnlyPage, admin.ModelAdmin):
    """Raised by customers in the portal; decided here. The legal hold it placed is lifted on decision."""

    list_display = ["invoice", "customer", "status", "raised_by", "raised_at", "decided_at"]
    list_filter = ["status"]
    list_select_related = ["invoice__customer", "raised_by"]
    search_fields = ["invoice__number", "invoice__customer__registered_name"]
    readonly_fields = ["invoice", "lines_disputed", "reason", "raised_by", "raised_at", "attachment_list", "status",
                       "decision", "credit_note", "decided_by", "decided_at", "hold"]  # fmt: skip
    fields = readonly_fields
    actions = ["resolve", "reject"]

    @admin.display(description="Customer")
    def customer(self, obj: Dispute):
        return obj.invoice.customer

    @admin.display(description="Lines")
    def lines_disputed(self, obj: Dispute) -> str:
        return "; ".join(str(line) for line in obj.lines.all()) or "The whole document"

    @admin.display(description="Attachments")
    def attachment_list(self, obj: Dispute) -> str:
        return (
            ", ".join(f"{a.filename} ({a.size} bytes, SHA-256 {a.sha256[:12]}…)" for a in obj.attachments.all())
            or "None"
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Resolve with a credit note…", permissions=["change"])
    def resolve(self, request, queryset):
        return form_action(
            self, request, queryset, form_class=ResolveForm, action="resolve", title="Resolve with a credit note",
            intro="Issue a credit note for the lines each customer disputed (or the whole document), email the "
            "decision and lift the dispute's legal hold.", submit="Resolve",
            apply=lambda dispute, data: resolve_dispute(dispute, actor=request.user, **data),
            done=lambda note, data: f"resolved by {note.number}.",
        )  # fmt: skip

    @admin.action(description="Reject with reasons…", permissions=["change"])
    def reject(self, request, queryset):
        return form_action(
            self, request, queryset, form_class=RejectForm, action="reject", title="Reject disputes",
            intro="Turn these disputes down; the reasons are emailed, reminders resume and the hold is lifted.",
            submit="Reject",
            apply=lambda dispute, data: reject_dispute(dispute, reasons=data["reasons"], actor=request.user),
            done=lambda result, data: "rejected; the customer is told why.",
        )  # fmt: skip


class PostedForm(forms.Form):
    posted_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), initial=timezone.localdate)


@admin.register(Letter)
class LetterAdmin(OpenDocuments, Recorded):
    """Adding a letter writes, stores and emails it: a Letter of Claim to an individual or
    sole trader, a letter before action to a business. Post it, then record the posting."""

    list_display = ["__str__", "kind", "dated", "amount", "currency", "posted_on", "may_pass_on"]
    list_filter = ["kind", ("posted_on", admin.EmptyFieldListFilter)]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    filter_horizontal = ["invoices"]
    fields = ["customer", "invoices"]
    readonly_after_creation = ("kind", "dated", "amount", "currency", "pdf_sha256", "message", "posted_on",
                               "posted_by", "created_by", "may_pass_on")  # fmt: skip
    actions = ["record_posting"]

    @admin.display(description="May be passed on")
    def may_pass_on(self, obj: Letter) -> str:
        wait = handoff_wait(obj)
        return f"From {wait.until:%-d %B %Y} ({wait.reason})" if wait.until else f"Not yet: {wait.reason}"

    def create(self, request, data) -> Letter:
        return send_letter(data["customer"], invoices=data["invoices"], actor=request.user)

    def save_related(self, request, form, formsets, change) -> None:
        return None  # send_letter set the documents

    @admin.action(description="Record posting…", permissions=["change"])
    def record_posting(self, request, queryset):
        return form_action(
            self, request, queryset, form_class=PostedForm, action="record_posting", title="Record posting",
            intro="The day these letters were posted (first class). The Protocol's 30 days count from it.",
            submit="Record",
            apply=lambda letter, data: record_posting(letter, posted_on=data["posted_on"], actor=request.user),
            done=lambda result, data: f"posted on {data['posted_on']:%-d %B %Y}.",
        )  # fmt: skip


class AnsweredForm(forms.Form):
    answered_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), initial=timezone.localdate)


@admin.register(LetterReply)
class LetterReplyAdmin(ViewOnlyPage, admin.ModelAdmin):
    list_display = ["letter", "response", "payment", "wants_documents", "seeking_advice", "needs_more_time",
                    "submitted_at", "answered_on"]  # fmt: skip
    list_filter = ["response", "payment", "wants_documents", "seeking_advice", "needs_more_time"]
    readonly_fields = [f.name for f in LetterReply._meta.fields if f.name != "id"]
    # The customer's answers in the paper forms' sections, then our answer.
    fieldsets = [
        (None, {"fields": ["letter", "submitted_by", "submitted_at"]}),
        *[(title, {"fields": names}) for title, names in REPLY_SECTIONS],
        ("Financial Statement: totals", {"fields": ["monthly_income", "monthly_outgoings"]}),
        ("Our answer", {"fields": ["answered_on", "answered_by"]}),
    ]
    actions = ["record_answer"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Record documents sent or reply answered…", permissions=["change"])
    def record_answer(self, request, queryset):
        return form_action(
            self, request, queryset, form_class=AnsweredForm, action="record_answer", title="Record our answer",
            intro="The day we sent the documents asked for, or answered the reply: nothing is passed on until "
            "30 days after it.", submit="Record",
            apply=lambda reply, data: record_answer(reply, answered_on=data["answered_on"], actor=request.user),
        )  # fmt: skip


class HandoffForm(forms.ModelForm):
    class Meta:
        model = Handoff
        fields = ["customer", "agency", "invoices"]

    def clean(self):
        data = super().clean()
        if data.get("customer") and data.get("invoices") is not None:
            problems = check_handoff(data["customer"], data["invoices"])
            if problems:
                raise ValidationError(problems)
        return data


@admin.register(Handoff)
class HandoffAdmin(OpenDocuments, Recorded):
    """Passing a debt on checks the preconditions (letter period passed, no open dispute,
    final reminder sent) and refuses with the reasons; then builds the pack, records the
    disclosure, places the hold and tells the customer."""

    form = HandoffForm
    list_display = ["__str__", "agency", "amount", "currency", "status", "created_at"]
    list_filter = ["status", "agency"]
    autocomplete_fields = ["customer"]
    filter_horizontal = ["invoices"]
    fields = ["customer", "agency", "invoices"]
    readonly_after_creation = ("amount", "currency", "status", "pack_sha256", "disclosure", "created_by",
                               "created_at", "recalled_at", "settled_at")  # fmt: skip
    actions = ["download_pack", "recall", "settle"]

    @admin.action(description="Download the handoff pack (one at a time)", permissions=["view"])
    def download_pack(self, request, queryset):
        if queryset.count() != 1:
            messages.error(request, "Choose one handoff: its pack is one ZIP.")
            return None
        handoff = queryset.get()
        response = HttpResponse(read_verified(handoff.pack, handoff.pack_sha256), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="handoff-{handoff.pk}.zip"'
        response["Cache-Control"] = "no-store"
        return response

    def create(self, request, data) -> Handoff:
        return hand_off(data["customer"], invoices=data["invoices"], agency=data["agency"], actor=request.user)

    def save_related(self, request, form, formsets, change) -> None:
        return None

    def _end(self, request, queryset, kind: str) -> None:
        for handoff in queryset:
            try:
                record_event(handoff, kind=kind, on=timezone.localdate(), actor=request.user)
            except ValidationError as exc:
                messages.error(request, f"{handoff}: {_errors(exc)}")
            else:
                messages.success(request, f"{handoff}: {HandoffEvent.Kind(kind).label.lower()}.")

    @admin.action(description="Record recall from the agency", permissions=["change"])
    def recall(self, request, queryset) -> None:
        self._end(request, queryset, HandoffEvent.Kind.RECALL)

    @admin.action(description="Record settlement", permissions=["change"])
    def settle(self, request, queryset) -> None:
        self._end(request, queryset, HandoffEvent.Kind.SETTLEMENT)


@admin.register(HandoffEvent)
class HandoffEventAdmin(Recorded):
    list_display = ["handoff", "kind", "on", "amount", "note", "recorded_by"]
    list_filter = ["kind"]
    raw_id_fields = ["handoff", "payment"]
    fields = ["handoff", "kind", "on", "amount", "payment", "note"]
    readonly_after_creation = ("recorded_by", "created_at")

    def create(self, request, data) -> HandoffEvent:
        return record_event(data.pop("handoff"), actor=request.user, **data)


@admin.register(WriteOff)
class WriteOffAdmin(Recorded):
    list_display = ["invoice", "amount", "reason", "written_off_on", "bad_debt_relief"]
    raw_id_fields = ["invoice"]
    fields = ["invoice", "reason", "written_off_on"]
    readonly_after_creation = ("amount", "written_off_by", "bad_debt_relief")

    @admin.display(description="VAT bad-debt relief")
    def bad_debt_relief(self, obj: WriteOff) -> str:
        start = obj.bad_debt_relief_from
        if start is None:
            return "—"
        if start <= timezone.localdate():
            return f"Eligible since {start:%-d %B %Y} (6 months after the due date)"
        return f"Eligible from {start:%-d %B %Y} (6 months after the due date)"

    def create(self, request, data) -> WriteOff:
        return write_off(data["invoice"], reason=data["reason"], actor=request.user, on=data["written_off_on"])


@admin.register(SuspensionNotice)
class SuspensionNoticeAdmin(OpenDocuments, Recorded):
    """Giving notice emails the customer the day their active services will be suspended
    (Collections settings: the notice period) unless the chosen documents are paid; the
    daily run suspends them then, and restores them once paid."""

    list_display = ["__str__", "noticed_at", "suspend_on", "suspended_at", "restored_at", "cancelled_at"]
    list_filter = [("suspended_at", admin.EmptyFieldListFilter), ("restored_at", admin.EmptyFieldListFilter)]
    autocomplete_fields = ["customer"]
    filter_horizontal = ["invoices"]
    fields = ["customer", "invoices"]
    readonly_after_creation = ("noticed_at", "suspend_on", "created_by", "suspended_at", "restored_at", "cancelled_at")

    def create(self, request, data) -> SuspensionNotice:
        return give_notice(data["customer"], invoices=data["invoices"], actor=request.user)

    def save_related(self, request, form, formsets, change) -> None:
        return None
