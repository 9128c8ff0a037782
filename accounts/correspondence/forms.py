from __future__ import annotations

from django import forms

from accounts.correspondence.models import RECIPIENT_ROLES, MailKind

MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Django's documented pattern for an <input type=file multiple>."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class ReplyInThreadForm(forms.Form):
    """Writing again in a conversation: its topic and subject are the conversation's."""

    body = forms.CharField(label="Your message", max_length=20_000, widget=forms.Textarea(attrs={"rows": 6}))
    attachments = MultipleFileField(
        required=False, help_text=f"Up to {MAX_ATTACHMENTS} files, {MAX_ATTACHMENT_BYTES // 1024 // 1024} MB each."
    )

    def clean_attachments(self) -> list:
        files = self.cleaned_data.get("attachments") or []
        if len(files) > MAX_ATTACHMENTS:
            raise forms.ValidationError(f"Attach at most {MAX_ATTACHMENTS} files; you chose {len(files)}.")
        for upload in files:
            if upload.size > MAX_ATTACHMENT_BYTES:
                raise forms.ValidationError(
                    f"{upload.name} is {upload.size / 1024 / 1024:.1f} MB; each file may be at most "
                    f"{MAX_ATTACHMENT_BYTES // 1024 // 1024} MB."
                )
        return files


class WriteToUsForm(ReplyInThreadForm):
    kind = forms.ChoiceField(label="Topic")
    subject = forms.CharField(max_length=200)
    body = forms.CharField(label="Message", max_length=20_000, widget=forms.Textarea(attrs={"rows": 10}))

    field_order = ["kind", "subject", "body", "attachments"]

    def __init__(self, *args, role: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k.value, k.label) for k in MailKind if role in RECIPIENT_ROLES[k]]
