"""Forms for data-subject requests: the portal, the public form, agents, and staff steps."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from privacy.authority import check_authority
from privacy.models import DataSubjectRequest
from privacy.services.requests import check_kind_for_regime

MAX_DETAILS = 5000

KIND_HELP = (
    "Access gives you a copy of your data; portability a machine-readable export; rectification corrects it; "
    "erasure deletes what the law lets us delete; restriction and objection limit what we do with it."
)


class _RequestFields(forms.Form):
    kind = forms.ChoiceField(
        label="What would you like us to do?", choices=DataSubjectRequest.Kind.choices, help_text=KIND_HELP
    )
    regime = forms.ChoiceField(
        label="Which law do you ask under?",
        choices=DataSubjectRequest.Regime.choices,
        initial=DataSubjectRequest.Regime.UK_GDPR,
        help_text="If unsure, keep UK GDPR. Choose CCPA if you are a California resident.",
    )
    details = forms.CharField(
        label="Details",
        required=False,
        max_length=MAX_DETAILS,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Anything that helps us: what to correct, which data, which processing you object to.",
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind") and data.get("regime"):
            try:
                check_kind_for_regime(data["kind"], data["regime"])
            except ValidationError as exc:
                self.add_error("kind", exc.message_dict["kind"])
        if data.get("kind") == DataSubjectRequest.Kind.RECTIFICATION and not (data.get("details") or "").strip():
            self.add_error("details", "Say which data is wrong and what it should be.")
        return data


class PortalRequestForm(_RequestFields):
    about = forms.ChoiceField(
        label="Whose data is it about?",
        choices=[("me", "Me personally"), ("customer", "The whole customer account")],
        initial="me",
        widget=forms.RadioSelect,
    )

    field_order = ["about", "kind", "regime", "details"]

    def __init__(self, *args, can_ask_for_customer: bool, customer_name: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if can_ask_for_customer:
            self.fields["about"].choices = [("me", "Me personally"), ("customer", f"All of {customer_name}")]
        else:
            del self.fields["about"]


class PublicRequestForm(_RequestFields):
    email = forms.EmailField(
        label="Your email address",
        help_text="If it is the address of a login we hold, we email it a link: following the link confirms "
        "that the request is yours, and our one-month deadline starts then.",
    )

    field_order = ["email", "kind", "regime", "details"]


class AgentRequestForm(_RequestFields):
    agent_name = forms.CharField(label="Your name (or your firm's)", max_length=200)
    agent_email = forms.EmailField(label="Your email address")
    person_email = forms.EmailField(
        label="The email address of the person you act for",
        help_text="The address of their login with us. We ask them at that address to confirm you act for them.",
    )
    authority = forms.FileField(
        label="Written authority",
        help_text="The person's signed permission for you to act for them: a PDF, PNG or JPEG of at most 10 MB.",
        error_messages={"required": "Attach the written authority to act for the person (PDF, PNG or JPEG)."},
    )

    field_order = ["agent_name", "agent_email", "person_email", "kind", "regime", "details", "authority"]

    def clean_authority(self):
        upload = self.cleaned_data["authority"]
        check_authority(upload)
        return upload

    def clean(self) -> dict:
        data = super().clean()
        agent, person = (data.get("agent_email") or "").lower(), (data.get("person_email") or "").lower()
        if agent and person and agent == person:
            self.add_error("person_email", "This is your own address: ask for yourself on the ordinary form.")
        return data


# ---------------------------------------------------------------------------------------
# Staff steps (admin intermediate pages)
# ---------------------------------------------------------------------------------------


class ExtendForm(forms.Form):
    reason = forms.CharField(
        label="Reasons for the extension",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Emailed to the requester. Say why the request is complex or numerous.",
    )


class RefuseForm(forms.Form):
    reason = forms.CharField(
        label="Ground for refusing",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Emailed to the requester with their right to complain to the ICO and to go to court.",
    )


class PauseForm(forms.Form):
    question = forms.CharField(
        label="What needs clarifying",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Emailed to the requester. The clock stands still until you resume the request.",
    )


class FeeForm(forms.Form):
    amount = forms.DecimalField(label="Fee (£)", min_value=0.01, max_digits=8, decimal_places=2)
    ground = forms.CharField(
        label="Ground",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Manifestly unfounded or excessive, or further copies. Emailed to the requester.",
    )


class FulfilForm(forms.Form):
    note = forms.CharField(
        label="Note",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="For rectification: what you corrected in the customer admin (sent to the requester).",
    )


class RespondForm(forms.Form):
    text = forms.CharField(
        label="Response",
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Emailed to the requester; the request is then closed.",
    )
