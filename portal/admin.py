"""The admins of the libraries we use, held to our rule: every admin action checks a
named permission (Django offers an action without one to anyone who opens the list).

Running a scheduled task now or switching one off changes what the portal does, so it
needs the permission to change periodic tasks; marking an email address verified changes
who can log in, so it needs the permission to change email addresses.
"""

from __future__ import annotations

from allauth.account.admin import EmailAddressAdmin
from allauth.account.models import EmailAddress
from django.contrib import admin
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from portal import workbench  # noqa: F401  (the admin home page: queues of work)


class GuardedPeriodicTaskAdmin(PeriodicTaskAdmin):
    @admin.action(description=PeriodicTaskAdmin.enable_tasks.short_description, permissions=["change"])
    def enable_tasks(self, request, queryset):
        return super().enable_tasks(request, queryset)

    @admin.action(description=PeriodicTaskAdmin.disable_tasks.short_description, permissions=["change"])
    def disable_tasks(self, request, queryset):
        return super().disable_tasks(request, queryset)

    @admin.action(description=PeriodicTaskAdmin.toggle_tasks.short_description, permissions=["change"])
    def toggle_tasks(self, request, queryset):
        return super().toggle_tasks(request, queryset)

    @admin.action(description=PeriodicTaskAdmin.run_tasks.short_description, permissions=["change"])
    def run_tasks(self, request, queryset):
        return super().run_tasks(request, queryset)


class GuardedEmailAddressAdmin(EmailAddressAdmin):
    @admin.action(description="Mark as verified", permissions=["change"])
    def make_verified(self, request, queryset):
        return super().make_verified(request, queryset)


for model, model_admin in ((PeriodicTask, GuardedPeriodicTaskAdmin), (EmailAddress, GuardedEmailAddressAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
