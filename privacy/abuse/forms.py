from __future__ import annotations

from django import forms

from accounts.correspondence.forms import MAX_ATTACHMENT_BYTES, MultipleFileField
from privacy.abuse.cases import MAX_ANSWER_FILES


class AnswerForm(forms.Form):
    """A customer's answer to an abuse case: what they found and did, with files."""

    text = forms.CharField(
        label="What did you find, and what did you do?",
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    files = MultipleFileField(
        label="Attachments",
        required=False,
        help_text=f"Up to {MAX_ANSWER_FILES} files, {MAX_ATTACHMENT_BYTES // 1024 // 1024} MB each "
        "(for example logs showing the problem is fixed).",
    )

    def clean_files(self) -> list:
        files = self.cleaned_data.get("files") or []
        if len(files) > MAX_ANSWER_FILES:
            raise forms.ValidationError(f"Attach at most {MAX_ANSWER_FILES} files; you chose {len(files)}.")
        for upload in files:
            if upload.size > MAX_ATTACHMENT_BYTES:
                raise forms.ValidationError(
                    f"{upload.name} is {upload.size / 1024 / 1024:.1f} MB; each file may be at most "
                    f"{MAX_ATTACHMENT_BYTES // 1024 // 1024} MB."
                )
        return files
