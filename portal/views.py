"""The portal shell: dashboard, customer switcher and the accountants' home page."""

from __future__ import annotations

import datetime as dt

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import roles
from accounts.access import customer_view, kept_page, require_permission
from accounts.forms import CustomerChoiceForm
from accounts.middleware import SESSION_CUSTOMER_KEY, current_membership
from accounts.models import Service
from billing.money import format_money
from billing.receivables.payments import account_balance
from billing.usage.charges import month_to_date
from core.links import row_link
from core.pagination import paginate

# Rows of each list on the dashboard; the services and contacts pages list them all, a page at a time.
DASHBOARD_ROWS = 10


@login_required
@kept_page
def dashboard(request: HttpRequest) -> HttpResponse:
    """What the person's current customer holds and who acts for it.

    Its lists are a page of ``DASHBOARD_ROWS`` each (current services, contacts), with how
    many there are and links to the next; the work does not grow with the customer."""
    membership = current_membership(request)
    if membership is None:
        if request.user.is_accountant:
            return redirect("accounting:home")
        return render(request, "portal/no_membership.html")
    require_permission(membership, roles.Action.VIEW_DASHBOARD)
    customer = membership.customer
    sees_billing = membership.can(roles.Action.VIEW_BILLING)
    summary = _services_summary(customer, billing=sees_billing)
    context = {"customer": customer, "membership": membership, "permissions": membership.permissions}
    if sees_billing:
        context.update(_billing_summary(customer, summary))
    if membership.can(roles.Action.VIEW_SERVICES):
        current = Service.objects.for_customer(customer).current().order_by("name", "pk")
        page = paginate(request, current, per_page=DASHBOARD_ROWS, count=summary["current"], param="services")
        services = list(page)
        # This month's bandwidth against each plan's allowance or commit, for the services shown.
        usage = month_to_date(services, timezone.now())
        detail_url, usage_url = row_link("accounts:service_detail"), row_link("billing:service_usage")
        for service in services:
            service.usage = usage.get(service.pk)
            service.detail_url, service.usage_url = detail_url(service.pk), usage_url(service.pk)
        context.update(services_page=page, services=services, shows_usage=bool(usage), ended_services=summary["ended"])
    if membership.can(roles.Action.VIEW_CONTACTS):
        contacts = customer.memberships.select_related("user").order_by("user__email", "pk")
        context["contacts_page"] = page = paginate(request, contacts, per_page=DASHBOARD_ROWS, param="contacts")
        context["contacts"] = list(page)
    return render(request, "portal/dashboard.html", context)


def _services_summary(customer, *, billing: bool) -> dict:
    """How many current and ended services the customer has and, with ``billing``, over
    the current services the earliest start of a subscription never billed
    (``first_unbilled``) and the earliest ``billed_until`` of those billed before and
    still running (``billed_until_min``): one query, however many services."""
    ended = Q(status=Service.Status.ENDED) | Q(ended_on__lt=timezone.localdate())
    figures = {"current": Count("pk", filter=~ended, distinct=True), "ended": Count("pk", filter=ended, distinct=True)}
    if billing:
        running = Q(subscriptions__ended_on__isnull=True) | Q(
            subscriptions__ended_on__gt=F("subscriptions__billed_until")
        )
        figures["first_unbilled"] = Min(
            "subscriptions__started_on", filter=~ended & Q(subscriptions__billed_until__isnull=True)
        )
        figures["billed_until_min"] = Min(
            "subscriptions__billed_until", filter=~ended & Q(subscriptions__billed_until__isnull=False) & running
        )
    return Service.objects.for_customer(customer).aggregate(**figures)


def _billing_summary(customer, summary: dict) -> dict:
    """The balance and the date the next invoice's period starts, for billing contacts and owners.

    A subscription is next billed from the day after ``billed_until`` (or from its start if
    never billed); the next invoice is the earliest of these over the current services.
    Subscriptions that ended and are billed to their end are not counted.
    """
    balance = account_balance(customer)
    dates = [summary["first_unbilled"]] if summary["first_unbilled"] else []
    if summary["billed_until_min"]:
        dates.append(summary["billed_until_min"] + dt.timedelta(days=1))
    return {
        "balance": format_money(abs(balance), customer.currency),
        "balance_in_credit": balance < 0,
        "balance_owed": balance > 0,
        "next_billing": min(dates, default=None),
    }


@require_POST
@login_required
def switch_customer(request: HttpRequest) -> HttpResponse:
    """Act for another of the person's customers. Only their own customers: others are 404."""
    form = CustomerChoiceForm(request.POST)
    if not form.is_valid():
        raise Http404("No such customer.")
    membership = get_object_or_404(request.user.memberships.all(), customer_id=form.cleaned_data["customer"])
    request.session[SESSION_CUSTOMER_KEY] = membership.customer_id
    # Always to the dashboard: the page the person was on may belong to the other customer.
    return redirect("portal:dashboard")


@login_required
def accounting_home(request: HttpRequest) -> HttpResponse:
    """The accountants' area: whose books, the way to the exports, and the accountant's login."""
    if not request.user.is_accountant:
        raise Http404("Not an accountant.")
    authenticators = Authenticator.objects.filter(user=request.user).order_by("type")
    return render(
        request,
        "portal/accounting_home.html",
        {"authenticators": [a.get_type_display() for a in authenticators]},
    )


@customer_view
def bench_bare(request: HttpRequest, membership) -> HttpResponse:
    """The floor bench/pages.py measures every customer page against: the same middleware
    and the same customer-page decorator (session, login, membership), and no work of its
    own. 404 unless ``PORTAL_BENCH_BARE_VIEW`` is on, which production refuses."""
    if not settings.PORTAL_BENCH_BARE_VIEW:
        raise Http404("Not enabled.")
    return HttpResponse("ok", content_type="text/plain; charset=utf-8")
