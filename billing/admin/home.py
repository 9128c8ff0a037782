"""The admin's home page warns staff while invoices cannot be issued for want of a
payment method, before anyone finds out from a refused billing run, and once a
late-payment reference day has passed that no one has confirmed the Bank Rate table up to."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from billing.collections.rates import check_due
from billing.models import BillingSettings

_site_index = admin.site.index


def index_with_billing_warnings(request, extra_context=None):
    missing = BillingSettings.current().missing_payment_method()
    if missing:
        messages.warning(
            request,
            format_html(
                '{} Invoices and payment requests are refused until then. <a href="{}">Open Billing settings</a>.',
                missing,
                reverse("admin:billing_billingsettings_changelist"),
            ),
        )
    rates = check_due()
    if rates and request.user.has_perm("billing.add_referenceratecheck"):
        messages.warning(
            request,
            format_html(
                '{} <a href="{}">Confirm the Bank Rate table</a>.',
                rates,
                reverse("admin:billing_referenceratecheck_add"),
            ),
        )
    return _site_index(request, extra_context)


admin.site.index = index_with_billing_warnings
