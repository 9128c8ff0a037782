"""Billing admin: payments, refunds, billing runs and billing settings.

All write through the services: a payment is recorded with ``record_payment`` (which
allocates it), a refund with ``record_refund`` (which checks there is credit to pay
back), and adding a billing run starts ``run_billing`` in a worker.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.adminkit import ViewOnlyPage, customer_filter
from billing.admin.base import RecordedThroughService, SingletonAdmin
from billing.models import (
    BillingRun,
    BillingSettings,
    ExchangeRate,
    Invoice,
    Payment,
    PaymentAllocation,
    Refund,
    VatRate,
)
from billing.receivables.payments import balance_of, check_refund, record_refund, refundable, refuse_future_receipt
from billing.tasks import run_billing_task
from billing.workflows.run import refuse_future_period
from billing.workflows.settlement import receive_payment


class PaymentAllocationInline(admin.TabularInline):
    model = PaymentAllocation
    extra = 0
    can_delete = False
    fields = ["invoice", "amount", "released_by"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class PaymentForm(forms.ModelForm):
    settles = forms.CharField(
        required=False,
        label="Settles invoices",
        help_text="Invoice numbers this payment is for, as on the remittance advice, in order (INV-2026-000012, "
        "INV-2026-000015): each is paid up to what is due on it, the rest stays as credit. "
        "Empty: the oldest open invoices first.",
    )

    class Meta:
        model = Payment
        fields = ["customer", "method", "amount", "received_on", "reference"]

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError("A payment must be more than zero; to pay money back, record a refund.")
        return amount

    def clean_received_on(self):
        received_on = self.cleaned_data["received_on"]
        try:
            refuse_future_receipt(received_on)
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["received_on"]) from None
        return received_on

    def clean(self) -> dict:
        data = super().clean()
        numbers = [n for n in re.split(r"[\s,;]+", data.get("settles") or "") if n]
        data["allocate_to"] = None
        if not numbers or self.errors:
            return data
        customer, remaining = data["customer"], data["amount"]
        found = {i.number: i for i in Invoice.objects.filter(customer=customer, number__in=numbers)}
        unknown = [n for n in numbers if n not in found]
        if unknown:
            raise forms.ValidationError({"settles": f"{customer} has no document numbered {', '.join(unknown)}."})
        allocate_to = []
        for number in dict.fromkeys(numbers):
            invoice = found[number]
            if invoice.kind == Invoice.Kind.CREDIT_NOTE or invoice.status not in (
                Invoice.Status.ISSUED,
                Invoice.Status.PART_PAID,
            ):
                raise forms.ValidationError(
                    {"settles": f"{number} is {invoice.display_status.lower()}: nothing is due on it."}
                )
            if remaining <= 0:
                raise forms.ValidationError(
                    {"settles": f"The {data['amount']} is used up before {number}: remove it or check the amount."}
                )
            part = min(remaining, balance_of(invoice))
            allocate_to.append((invoice, part))
            remaining -= part
        data["allocate_to"] = allocate_to
        return data


@admin.register(Payment)
class PaymentAdmin(RecordedThroughService):
    """A payment is an accounting record: corrected by a credit note or a refund, not edited."""

    list_display = ["received_on", "customer", "amount", "currency", "method", "reference"]
    list_filter = ["method", "currency", customer_filter()]
    search_fields = ["reference", "customer__registered_name", "customer__trading_name"]
    date_hierarchy = "received_on"
    autocomplete_fields = ["customer"]
    list_select_related = ["customer"]
    inlines = [PaymentAllocationInline]
    form = PaymentForm
    fields = ["customer", "method", "amount", "received_on", "reference"]
    # In the customer's currency: billing.receivables refuses any other.
    readonly_after_creation = ("currency", "recorded_by", "created_at")

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def create(self, request, data: dict) -> Payment:
        return receive_payment(
            data["customer"],
            amount=data["amount"],
            received_on=data["received_on"],
            method=data["method"],
            reference=data["reference"],
            actor=request.user,
            allocate_to=data["allocate_to"],
        )

    def get_fields(self, request, obj=None):
        return super().get_fields(request, obj) if obj else [*self.fields, "settles"]


class RefundForm(forms.ModelForm):
    class Meta:
        model = Refund
        fields = ["customer", "credit_note", "method", "amount", "paid_on", "reference"]

    def clean(self) -> dict:
        # The service's own rules, so a refund it would refuse comes back on the form, by field.
        data = super().clean()
        if not self.errors and data.get("customer"):
            check_refund(data["customer"], data["amount"], None, data.get("credit_note"))
        return data


@admin.register(Refund)
class RefundAdmin(RecordedThroughService):
    """Adding a refund records money paid back; it is then an accounting record, not edited."""

    form = RefundForm
    list_display = ["paid_on", "customer", "amount", "currency", "method", "credit_note", "reference"]
    list_filter = ["method", "currency", customer_filter()]
    search_fields = ["reference", "customer__registered_name", "customer__trading_name", "credit_note__number"]
    date_hierarchy = "paid_on"
    autocomplete_fields = ["customer"]
    raw_id_fields = ["credit_note"]
    list_select_related = ["customer", "credit_note"]
    fields = ["customer", "credit_note", "method", "amount", "paid_on", "reference"]
    readonly_after_creation = ("currency", "recorded_by", "created_at")

    def get_changeform_initial_data(self, request) -> dict:
        # "Refund" on a credit note links here with ?credit_note=<pk>: start from its customer and amount.
        initial = super().get_changeform_initial_data(request)
        pk = str(initial.get("credit_note", ""))
        note = Invoice.objects.filter(pk=pk, kind=Invoice.Kind.CREDIT_NOTE).first() if pk.isdigit() else None
        if note is not None:
            initial.update(
                customer=note.customer_id,
                amount=refundable(note.customer, note.currency, note),
                paid_on=timezone.localdate(),
            )
        return initial

    def create(self, request, data: dict) -> Refund:
        return record_refund(
            data["customer"],
            amount=data["amount"],
            paid_on=data["paid_on"],
            method=data["method"],
            reference=data["reference"],
            credit_note=data["credit_note"],
            actor=request.user,
        )


class BillingRunForm(forms.ModelForm):
    class Meta:
        model = BillingRun
        fields = ["period_start", "customer"]
        help_texts = {"period_start": "Any day of the month to bill; the run bills that calendar month."}

    def clean(self) -> dict:
        data = super().clean()
        missing = BillingSettings.current().missing_payment_method()
        if missing:
            raise forms.ValidationError(missing)
        if data.get("period_start") and (ahead := refuse_future_period(data["period_start"])):
            raise forms.ValidationError({"period_start": ahead})
        return data


@admin.register(BillingRun)
class BillingRunAdmin(ViewOnlyPage, admin.ModelAdmin):
    """Adding a run is "Run billing now": for everyone, or for the one customer chosen."""

    form = BillingRunForm
    list_display = ["period_start", "customer", "state", "progress", "created", "started_by", "created_at"]
    list_filter = ["status"]
    list_select_related = ["customer", "started_by"]
    autocomplete_fields = ["customer"]
    actions = ["resume_runs"]

    def get_changeform_initial_data(self, request) -> dict:
        # "Run billing for this customer" on the customer overview links here with ?customer=<id>.
        return {"period_start": timezone.localdate().replace(day=1), **super().get_changeform_initial_data(request)}

    def get_readonly_fields(self, request, obj=None):
        if obj:
            return ["period_start", "customer", "state", "total", "done", "created", "error", "started_by",
                    "created_at", "progressed_at", "finished_at"]  # fmt: skip
        return []

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj) if obj else ["period_start", "customer"]

    @admin.display(description="Progress")
    def progress(self, run: BillingRun) -> str:
        return f"{run.done} of {run.total}"

    @admin.display(description="Status", ordering="status")
    def state(self, run: BillingRun) -> str:
        return run.display_status

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return
        obj.period_start = obj.period_start.replace(day=1)
        obj.started_by = request.user
        obj.save()
        self._queue(obj)
        messages.info(request, f"{obj} started; reload this page to follow its progress.")

    @staticmethod
    def _queue(run: BillingRun) -> None:
        run_billing_task.delay(run.pk)

    @admin.action(description="Resume the selected runs (skips customers already invoiced)", permissions=["add"])
    def resume_runs(self, request, queryset) -> None:
        # A run still moving is left alone (a second one would only redo its counting); a
        # stalled one lost its worker. Either way nobody is invoiced twice (billing.workflows.run).
        moving = [run for run in queryset if run.status == BillingRun.Status.RUNNING and not run.is_stalled]
        resumed = [run for run in queryset if run not in moving]
        for run in resumed:
            BillingRun.objects.filter(pk=run.pk).update(status=BillingRun.Status.QUEUED)
            self._queue(run)
        if resumed:
            messages.info(request, f"Resumed {len(resumed)} run(s); reload this page to follow their progress.")
        if moving:
            names = ", ".join(f"{run} ({run.done} of {run.total})" for run in moving)
            messages.warning(request, f"Still running, not resumed: {names}.")


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ["currency", "valid_from", "units_per_gbp", "source"]
    list_filter = ["currency"]
    date_hierarchy = "valid_from"


@admin.register(VatRate)
class VatRateAdmin(admin.ModelAdmin):
    """The dated VAT rates. A rate in force is history: documents were issued at it, so it is
    never edited or deleted; a change is a new rate from the day it applies."""

    list_display = ["country", "category", "valid_from", "rate", "source"]
    list_filter = ["country", "category"]
    search_fields = ["country", "source"]
    date_hierarchy = "valid_from"
    fields = ["country", "category", "valid_from", "rate", "source"]

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.in_force:
            return False  # shown read-only to those who may view
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.in_force:
            return False
        return super().has_delete_permission(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None and obj.in_force and request.method == "GET":
            messages.info(
                request,
                "This rate is in force and documents may have been issued at it, so it cannot be changed: "
                "add a new rate from the day the change applies.",
            )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(BillingSettings)
class BillingSettingsAdmin(SingletonAdmin):
    """One row: how the provider bills. Payment instructions are copied onto each document
    as it is issued, so a change applies to documents issued from then on."""

    fieldsets = (
        (
            "Payment instructions (printed on invoices)",
            {"fields": ("bank_account_name", "bank_sort_code", "bank_account_number", "bank_iban", "bank_bic")},
        ),
        ("Billing", {"fields": ("payment_terms_days", "billing_day", "pro_forma_mode", "bill_in_advance")}),
    )

    # No "only while none exists" on adding: the row is always pk 1 (``BillingSettings.save``),
    # so an add saves the one row, and the admin's menu asks no query per page for it.
