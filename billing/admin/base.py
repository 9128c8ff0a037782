"""What the billing admins share."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect

from accounts.adminkit import ViewOnlyPage


class RecordedThroughService(ViewOnlyPage, admin.ModelAdmin):
    """Rows that a service function creates (with its checks and side effects) and that
    are accounting records afterwards: added through ``create``, then never edited here
    (the fields listed in ``fields`` become read-only) nor deleted.

    Its page, once made, is a view page ("View payment", no Save).

    Each subclass defines ``create(self, request, data) -> Model``, which calls its service
    with the form's cleaned data.
    """

    def get_fields(self, request, obj=None):
        return [*self.fields, *self.readonly_after_creation] if obj else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [*self.fields, *self.readonly_after_creation] if obj else []

    readonly_after_creation: tuple[str, ...] = ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The form checks what it can; the service checks again under its locks, and may
        # refuse what changed in between (another payment settled the invoice first). The
        # admin's transaction is rolled back, and staff see the service's reason.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            messages.error(request, f"Nothing was recorded: {'; '.join(exc.messages)}")
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return
        created = self.create(request, form.cleaned_data)
        obj.pk = created.pk
        obj._state.adding = False
