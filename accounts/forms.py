"""Forms for the customer-facing pages. They parse input; accounts.services writes."""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation

from accounts import roles
from accounts.models import Customer, LegalForm, User
from accounts.services import CUSTOMER_EDITABLE_FIELDS


class CustomerDetailsForm(forms.ModelForm):
    """An owner's edit of the customer's details and postal address.

    Validation runs ``Customer.clean`` (VAT number through python-stdnum, company number
    for companies), so the page shows the same errors the service would raise.
    """

    class Meta:
        model = Customer
        fields = CUSTOMER_EDITABLE_FIELDS
        help_texts = {
            "vat_number": "In the UK or the EU, the VAT number, with or without the country prefix, e.g. "
            "GB980780684. Elsewhere, the business's tax identifier, e.g. CHE-116.281.710 or a US EIN. "
            "Leave empty if there is none.",
            "company_number": "Required for a limited company or LLP.",
        }
        widgets = {
            "registered_name": forms.TextInput(attrs={"autocomplete": "organization"}),
            "address_line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "address_line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "town": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "county": forms.TextInput(attrs={"autocomplete": "address-level1"}),
            "postcode": forms.TextInput(attrs={"autocomplete": "postal-code"}),
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only the fields that fit the customer's legal form: a consumer has no company
        # number, VAT number or trading name; only companies and LLPs have a company number.
        legal_form = self.instance.legal_form
        if legal_form not in LegalForm.with_company_number():
            del self.fields["company_number"]
        if legal_form not in LegalForm.with_vat_number():
            del self.fields["vat_number"]
        if legal_form not in LegalForm.with_trading_name():
            del self.fields["trading_name"]
        # A value that does not fit the legal form (kept from before) is cleared on save,
        # not kept out of sight; the form validates without it.
        self.cleared = {
            name for name in ("company_number", "vat_number", "trading_name")
            if name not in self.fields and getattr(self.instance, name)
        }  # fmt: skip
        for name in self.cleared:
            setattr(self.instance, name, "")
        if legal_form in (LegalForm.INDIVIDUAL, LegalForm.SOLE_TRADER):
            self.fields["registered_name"].label = "Full name"
            self.fields["registered_name"].widget.attrs["autocomplete"] = "name"

    def changes(self) -> dict:
        changes = {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.fields}
        return {**changes, **dict.fromkeys(self.cleared, "")}


class InviteContactForm(forms.Form):
    email = forms.EmailField(label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(
        choices=roles.Role.choices,
        initial=roles.Role.TECHNICAL,
        help_text="What each role may do is listed below.",
    )


class ContactRoleForm(forms.Form):
    role = forms.ChoiceField(choices=roles.Role.choices)


class CustomerChoiceForm(forms.Form):
    """The customer switcher: which of the person's customers to act for."""

    customer = forms.IntegerField(min_value=1)


class NewLoginForm(forms.Form):
    """Set up a login for a person who followed an invitation link and has none."""

    full_name = forms.CharField(
        label="Your full name", max_length=150, widget=forms.TextInput({"autocomplete": "name"})
    )
    password1 = forms.CharField(
        label="Choose a password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Repeat the password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict:
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords are different.")
        elif first:
            candidate = User(email=self.email, full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(first, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned
