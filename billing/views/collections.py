"""Customer pages of collections: disputing a document, the letters we sent and the
online Reply Form. Documents and letters are looked up within the contact's customer,
so another customer's id answers 404; a role without VIEW_BILLING gets 403 first."""

from __future__ import annotations

import secrets

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from accounts import roles
from accounts.access import customer_view, kept_page, private_download, require_permission
from accounts.models import Membership
from billing.collections.disputes import MAX_ATTACHMENTS, raise_dispute
from billing.collections.letters import handoff_wait, letter_filename, letter_pdf_bytes, submit_reply
from billing.collections.models import INCOME_FIELDS, REPLY_SECTIONS, SPENDING_FIELDS, Letter, LetterReply
from billing.models import Invoice


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class DisputeForm(forms.Form):
    lines = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        label="Which lines do you dispute?", help_text="Choose none to dispute the whole document.",
    )  # fmt: skip
    reason = forms.CharField(widget=forms.Textarea, label="Why", help_text="What is wrong, and what you expected.")
    attachments = MultipleFileField(required=False, help_text=f"Up to {MAX_ATTACHMENTS} files of 10 MB each.")

    def __init__(self, *args, invoice: Invoice, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lines"].choices = [(line.pk, f"{line.description} ({line.net})") for line in invoice.lines.all()]


@customer_view
def dispute_new(request: HttpRequest, membership: Membership, invoice_id: int) -> HttpResponse:
    # Looked up in the contact's own customer first: another customer's id answers 404
    # whatever the role; then a role without billing access is refused with the reason.
    invoice = get_object_or_404(
        Invoice.objects.filter(customer=membership.customer).exclude(status=Invoice.Status.DRAFT), pk=invoice_id
    )
    require_permission(membership, roles.Action.VIEW_BILLING)
    form = DisputeForm(request.POST or None, request.FILES or None, invoice=invoice)
    if request.method == "POST" and form.is_valid():
        try:
            raise_dispute(
                invoice,
                membership=membership,
                reason=form.cleaned_data["reason"],
                line_ids=form.cleaned_data["lines"],
                attachments=form.cleaned_data["attachments"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, f"Your dispute of {invoice.number} is with us: reminders and charges on it are paused."
            )
            return redirect("billing:invoice_detail", invoice.pk)
    return render(
        request, "billing/dispute_new.html", {"invoice": invoice, "form": form}, status=400 if form.errors else 200
    )


class ReplyForm(forms.ModelForm):
    """The online Reply Form and Financial Statement, in the paper forms' sections."""

    class Meta:
        model = LetterReply
        fields = [name for _, names in REPLY_SECTIONS for name in names]
        widgets = {
            "response": forms.RadioSelect,
            "payment": forms.RadioSelect,
            "instalment_frequency": forms.RadioSelect,
            **{f: forms.DateInput(attrs={"type": "date"})
               for f in ("paid_on", "pay_in_full_by", "instalments_from", "advice_appointment", "more_time_until")},
            **{f: forms.Textarea(attrs={"rows": 3})
               for f in ("dispute_reason", "more_time_why", "documents_wanted", "notes", "contact_details",
                         "other_debts", "savings_assets")},
        }  # fmt: skip
        help_texts = {
            "payment": "Leave blank if none applies.",
            "instalment_amount": "£, with how often and from when below. Fill in the Financial Statement too.",
            "spending_home": "Rent or mortgage, council tax, water, energy, TV licence, insurance.",
            "spending_communications": "Phones, internet, TV packages, hobbies, gifts.",
            "spending_food": "Groceries, toiletries, meals at school or work, baby items, pets.",
            "spending_travel": "Public transport, fuel, car insurance, tax, MOT, repairs, parking, vehicle finance.",
            "spending_personal": "Childcare, clothing, medical costs, school costs, life or health insurance.",
            "spending_savings": "Regular saving and pension contributions you pay yourself.",
            "spending_priority_debts": "Arrears of rent, mortgage, council tax, energy or water; fines; tax.",
            "income_benefits": "Universal Credit, Child Benefit, disability and carer's benefits, others.",
            "income_other": "Student loans and grants, other.",
        }

    # One key per form shown: the same form sent twice is one reply (letters.submit_reply).
    submission_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=32)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["submission_key"].initial = secrets.token_hex(16)
        for name in ("payment", "instalment_frequency"):
            self.fields[name].choices = [c for c in self.fields[name].choices if c[0]]
        for name in INCOME_FIELDS + SPENDING_FIELDS:
            self.fields[name].label = f"{self.fields[name].label} (£ a month)"

    def sections(self):
        return [(title, [self[name] for name in names]) for title, names in REPLY_SECTIONS]


def _letters(membership: Membership):
    return Letter.objects.filter(customer=membership.customer).prefetch_related("invoices", "replies")


@customer_view
@kept_page
def letter_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.VIEW_BILLING)
    return render(request, "billing/letters.html", {"letters": _letters(membership)})


@customer_view
def letter_reply(request: HttpRequest, membership: Membership, letter_id: int) -> HttpResponse:
    letter = get_object_or_404(_letters(membership), pk=letter_id)
    require_permission(membership, roles.Action.VIEW_BILLING)
    form = ReplyForm(request.POST if request.method == "POST" else None)
    if letter.kind == Letter.Kind.LETTER_OF_CLAIM and request.method == "POST" and form.is_valid():
        try:
            submit_reply(letter, membership=membership, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Thank you: your reply is with us.")
            return redirect("billing:letters")
    wait = handoff_wait(letter)
    return render(request, "billing/letter_reply.html", {"letter": letter, "form": form, "wait": wait},
                  status=400 if form.errors else 200)  # fmt: skip


@customer_view
@private_download
def letter_pdf(request: HttpRequest, membership: Membership, letter_id: int) -> HttpResponse:
    letter = get_object_or_404(_letters(membership), pk=letter_id)
    require_permission(membership, roles.Action.VIEW_BILLING)
    response = HttpResponse(letter_pdf_bytes(letter), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{letter_filename(letter)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


urlpatterns = [
    path("invoices/<int:invoice_id>/dispute/", dispute_new, name="dispute_new"),
    path("letters/", letter_list, name="letters"),
    path("letters/<int:letter_id>/", letter_reply, name="letter_reply"),
    path("letters/<int:letter_id>/pdf/", letter_pdf, name="letter_pdf"),
]
