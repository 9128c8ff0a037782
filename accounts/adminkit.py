"""Pieces every app's admin shares: the intermediate page of an action that needs input, and the
filter of a list to one customer's rows."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.template.response import TemplateResponse

from accounts.models import Customer


def action_form(modeladmin, request, queryset, *, form, action, title, intro, items, submit):
    """The intermediate page of an admin action that needs input (a reason, a date, a plan)."""
    return TemplateResponse(
        request,
        "admin/action_form.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "items": items,
            "form": form,
            "queryset": queryset,
            "action": action,
            "submit": submit,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        },
    )


def customer_filter(path: str = "customer") -> type[admin.SimpleListFilter]:
    """A list filter for one customer's rows (``?customer=<id>``), through ``path``.

    The customer overview links each section's "all" to its list filtered so; the filter
    shows whose rows these are, and "All" to drop it. It offers no list of customers to
    pick from: there may be thousands (search finds one).
    """

    class CustomerFilter(admin.SimpleListFilter):
        title = "customer"
        parameter_name = "customer"

        def lookups(self, request, model_admin):
            value = self.value()
            if not value:
                return []
            found = Customer.objects.filter(pk=value).first() if value.isdigit() else None
            return [(value, str(found) if found else f"No customer {value}")]

        def queryset(self, request, queryset):
            value = self.value()
            if not value:
                return queryset
            if not value.isdigit():
                return queryset.none()
            return queryset.filter(**{path: value})

    return CustomerFilter


def customer_choice(source_field, **kwargs) -> forms.ModelChoiceField:
    """A customer chosen by search, as ``autocomplete_fields`` offers on a model's own form,
    for a form of our own (an action's page). ``source_field`` is any foreign key to a
    customer; a template showing the form includes ``{{ form.media }}``."""
    return forms.ModelChoiceField(Customer.objects.all(), widget=AutocompleteSelect(source_field, admin.site), **kwargs)


class ViewOnlyPage:
    """A record whose page edits nothing (every field read-only; it changes through the
    list's actions or pages of its own): the page says "View", not "Change", and has no
    Save button. The actions still need the change permission, which Django checks
    without an object."""

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)
