"""Customer-facing pages for the customer's details, contacts, invitations and services.

Every object is looked up through a queryset scoped to the customer the person acts for
(``current_membership``), so another customer's object answers 404, never 403. Only
then is the role checked: an action the role does not allow answers 403 with a reason.
"""

from __future__ import annotations

import copy

from allauth.account.models import EmailAddress
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Prefetch, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from accounts import roles, services
from accounts.access import customer_view, kept_page, require_permission
from accounts.audit import AuditEvent
from accounts.forms import ContactRoleForm, CustomerDetailsForm, InviteContactForm, NewLoginForm
from accounts.middleware import SESSION_CUSTOMER_KEY
from accounts.models import Invitation, IPAssignment, Membership, Service
from core.links import row_link
from core.pagination import paginate


def _roles_table() -> list[dict]:
    return [
        {"action": action.label, "allowed": [role in roles.PERMISSIONS[action] for role in roles.Role]}
        for action in roles.Action
    ]


@customer_view
@kept_page
def profile(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.VIEW_DASHBOARD)
    return render(request, "accounts/profile.html", {"customer": membership.customer, "membership": membership})


@customer_view
@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.EDIT_DETAILS)
    customer = membership.customer
    # The form validates a copy: a rejected edit must not show up elsewhere on the page.
    form = CustomerDetailsForm(request.POST or None, instance=copy.copy(customer))
    if request.method == "POST" and form.is_valid():
        try:
            services.update_customer_details(customer, actor=request.user, changes=form.changes())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "The customer's details have been saved.")
            return redirect("accounts:profile")
    return render(request, "accounts/profile_edit.html", {"customer": customer, "form": form})


def _contacts_queryset(membership: Membership):
    return (
        membership.customer.memberships.select_related("user")
        .annotate(
            role_order=Case(
                *(When(role=role, then=Value(i)) for i, role in enumerate(roles.Role)),
                output_field=IntegerField(),
            )
        )
        .order_by("role_order", "user__email")
    )


def _open_invitations(membership: Membership):
    return membership.customer.invitations.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("invited_by")


@customer_view
@kept_page
def contacts(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.VIEW_CONTACTS)
    can_manage = membership.can(roles.Action.MANAGE_CONTACTS)
    page = paginate(request, _contacts_queryset(membership))
    contacts = list(page)
    if can_manage:
        role_url, remove_url = row_link("accounts:change_contact_role"), row_link("accounts:remove_contact")
        for contact in contacts:
            contact.role_url, contact.remove_url = role_url(contact.pk), remove_url(contact.pk)
    return render(
        request,
        "accounts/contacts.html",
        {
            "customer": membership.customer,
            "membership": membership,
            "page": page,
            "contacts": contacts,
            "sole_owner_id": services.sole_owner_id(membership.customer),
            "invitations": _open_invitations(membership) if can_manage else [],
            "can_manage": can_manage,
            "role_choices": roles.Role.choices,
            "roles_table": _roles_table(),
            "role_labels": roles.Role.labels,
        },
    )


@customer_view
@require_http_methods(["GET", "POST"])
def invite_contact(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.MANAGE_CONTACTS)
    form = InviteContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invite_contact(
                membership.customer,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=request.user,
                link_base=request.build_absolute_uri("/"),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                f"We have emailed an invitation to {invitation.email}. The link works until "
                f"{timezone.localtime(invitation.expires_at):%-d %B %Y}.",
            )
            return redirect("accounts:contacts")
    return render(
        request,
        "accounts/invite_contact.html",
        {
            "customer": membership.customer,
            "form": form,
            "roles_table": _roles_table(),
            "role_labels": roles.Role.labels,
        },
    )


@customer_view
@require_http_methods(["GET", "POST"])
def change_contact_role(request: HttpRequest, membership: Membership, membership_id: int) -> HttpResponse:
    contact = get_object_or_404(membership.customer.memberships.select_related("user"), pk=membership_id)
    require_permission(membership, roles.Action.MANAGE_CONTACTS)
    if contact.pk == services.sole_owner_id(membership.customer):
        return _sole_owner_page(request, membership, contact, "Change a contact's role")
    form = ContactRoleForm(request.POST or None, initial={"role": contact.role})
    if request.method == "POST" and form.is_valid():
        try:
            services.change_contact_role(contact, role=form.cleaned_data["role"], actor=request.user)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, f"The role of {contact.user.email} is now: {contact.get_role_display()}.")
        return redirect("accounts:contacts")
    return render(
        request, "accounts/contact_role.html", {"customer": membership.customer, "contact": contact, "form": form}
    )


def _sole_owner_page(request: HttpRequest, membership: Membership, contact: Membership, title: str) -> HttpResponse:
    """What the page offers the only owner instead of a form that would be refused."""
    reason = services.sole_owner_reason(contact, is_you=contact.user_id == request.user.pk)
    if request.method == "POST":
        messages.error(request, reason)
        return redirect("accounts:contacts")
    return render(
        request,
        "accounts/contact_sole_owner.html",
        {"customer": membership.customer, "contact": contact, "reason": reason, "title": title},
    )


@customer_view
@require_http_methods(["GET", "POST"])
def remove_contact(request: HttpRequest, membership: Membership, membership_id: int) -> HttpResponse:
    contact = get_object_or_404(membership.customer.memberships.select_related("user"), pk=membership_id)
    require_permission(membership, roles.Action.MANAGE_CONTACTS)
    if contact.pk == services.sole_owner_id(membership.customer):
        return _sole_owner_page(request, membership, contact, "Remove a contact")
    if request.method == "POST":
        try:
            services.remove_contact(contact, actor=request.user)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            return redirect("accounts:contacts")
        messages.success(request, f"{contact.user.email} is no longer a contact of {membership.customer.display_name}.")
        if contact.user_id == request.user.pk:
            request.session.pop(SESSION_CUSTOMER_KEY, None)
            return redirect("portal:dashboard")
        return redirect("accounts:contacts")
    return render(request, "accounts/contact_remove.html", {"customer": membership.customer, "contact": contact})


@customer_view
@require_http_methods(["GET", "POST"])
def revoke_invitation(request: HttpRequest, membership: Membership, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(membership.customer.invitations.all(), pk=invitation_id)
    require_permission(membership, roles.Action.MANAGE_CONTACTS)
    if request.method == "POST":
        services.revoke_invitation(invitation, actor=request.user)
        messages.success(request, f"The invitation to {invitation.email} has been withdrawn; its link no longer works.")
        return redirect("accounts:contacts")
    return render(
        request, "accounts/invitation_revoke.html", {"customer": membership.customer, "invitation": invitation}
    )


@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The link from an invitation email. Open to anyone holding the token.

    Logged in as the invited address: confirm and join. No login for that address yet:
    choose a name and password (the link proves the address). A login exists but the
    person is not logged in: log in first, then come back here.
    """
    invitation = Invitation.find_open(token)
    if invitation is None:
        return render(request, "accounts/invitation_invalid.html", status=404)
    context = {"invitation": invitation, "customer": invitation.customer, "role_label": invitation.get_role_display()}
    user = request.user
    if user.is_authenticated:
        holds_address = EmailAddress.objects.filter(user=user, email__iexact=invitation.email, verified=True).exists()
        if not holds_address:
            return render(request, "accounts/invitation_wrong_login.html", context, status=403)
        if request.method == "POST":
            try:
                membership = services.accept_invitation(invitation, user=user)
            except services.InvitationError:
                return render(request, "accounts/invitation_invalid.html", status=404)
            return _joined(request, membership)
        return render(request, "accounts/invitation_accept.html", context)

    if services.has_login(invitation.email):
        context["login_url"] = f"{reverse('account_login')}?{urlencode({'next': request.path})}"
        return render(request, "accounts/invitation_login.html", context)

    form = NewLoginForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.accept_invitation_as_new_user(
                invitation, full_name=form.cleaned_data["full_name"], password=form.cleaned_data["password1"]
            )
        except services.InvitationError:
            return render(request, "accounts/invitation_invalid.html", status=404)
        login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        return _joined(request, membership)
    return render(request, "accounts/invitation_new_login.html", {**context, "form": form})


def _joined(request: HttpRequest, membership: Membership) -> HttpResponse:
    request.session[SESSION_CUSTOMER_KEY] = membership.customer_id
    messages.success(
        request,
        f"You are now a {membership.get_role_display().lower()} of {membership.customer.display_name}.",
    )
    return redirect("portal:dashboard")


@customer_view
@kept_page
def service_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    require_permission(membership, roles.Action.VIEW_SERVICES)
    service_qs = (
        Service.objects.for_customer(membership.customer)
        .order_by("name", "pk")
        .prefetch_related(
            Prefetch("ip_assignments", queryset=IPAssignment.objects.current(), to_attr="current_addresses")
        )
    )
    page = paginate(request, service_qs)  # the addresses are fetched for the page's services only
    services = list(page)
    detail_url = row_link("accounts:service_detail")
    for service in services:
        service.detail_url = detail_url(service.pk)
    return render(
        request,
        "accounts/services.html",
        {"customer": membership.customer, "page": page, "services": services},
    )


@customer_view
@kept_page
def service_detail(request: HttpRequest, membership: Membership, service_id: int) -> HttpResponse:
    service = get_object_or_404(Service.objects.for_customer(membership.customer), pk=service_id)
    require_permission(membership, roles.Action.VIEW_SERVICES)
    return render(
        request,
        "accounts/service_detail.html",
        {
            "customer": membership.customer,
            "service": service,
            "addresses": service.ip_assignments.order_by("released_on", "version", "first_key"),
            "history": service.status_changes.all(),
        },
    )


ACTIVITY_PAGE_SIZE = 25


@customer_view
@kept_page
def activity(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The account's security-relevant events and the person's own sign-ins, newest first."""
    require_permission(membership, roles.Action.VIEW_DASHBOARD)
    events = AuditEvent.objects.activity_for(membership.customer, request.user).only(
        "occurred_at", "actor_label", "summary", "ip_address", "action"
    )
    page = Paginator(events, ACTIVITY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "accounts/activity.html", {"customer": membership.customer, "page": page})
