"""Pieces every app's admin shares: the intermediate page of an action that needs input."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse


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
