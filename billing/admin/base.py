"""What the billing admins share."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse

from accounts.adminkit import ViewOnlyPage, action_form


class RefusalShown(admin.ModelAdmin):
    """An add form whose service may refuse what the form let through: the form checks what
    it can; the service checks again under its locks, and may refuse what changed in
    between (another payment settled the invoice first). The admin's transaction is rolled
    back, and staff see the service's reason after ``refused``."""

    refused = "Nothing was recorded"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            messages.error(request, f"{self.refused}: {'; '.join(exc.messages)}")
            return HttpResponseRedirect(request.get_full_path())


class RecordedThroughService(ViewOnlyPage, RefusalShown):
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

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return
        created = self.create(request, form.cleaned_data)
        obj.pk = created.pk
        obj._state.adding = False


class SingletonAdmin(admin.ModelAdmin):
    """A settings model of one row (pk 1): the list opens it, or the form for it while
    none is saved. Never deleted."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        name = f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}"
        if self.model._default_manager.exists():
            return HttpResponseRedirect(reverse(f"{name}_change", args=[1]))
        if self.has_add_permission(request):
            return HttpResponseRedirect(reverse(f"{name}_add"))
        return super().changelist_view(request, extra_context)


def form_action(modeladmin, request, queryset, *, form_class, action, title, intro, submit, apply, done=None):
    """An admin action that first asks for a form (``action_form``), then calls
    ``apply(obj, cleaned_data)`` for each selected row: a row the service refuses is named
    with its reason and the others go ahead; ``done(result, cleaned_data)``, when given,
    says what was done to each."""
    form = form_class(request.POST if "apply" in request.POST else None)
    if not form.is_valid():
        return action_form(
            modeladmin, request, queryset, form=form, action=action, title=title, intro=intro,
            items=[str(obj) for obj in queryset], submit=submit,
        )  # fmt: skip
    for obj in queryset:
        try:
            result = apply(obj, form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, f"{obj}: {'; '.join(exc.messages)}")
        else:
            if done is not None:
                messages.success(request, f"{obj}: {done(result, form.cleaned_data)}")
    return None
