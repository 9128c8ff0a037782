"""Staff work here: customers, their contacts and services, addresses, invitations, provider details.

Where accounts.services has a function for a change (contacts' roles and removal,
invitations), the admin calls it, so the same rules hold as in the portal: the last owner
stays, invitations are emailed and only their hash is stored.
"""

from __future__ import annotations

import functools
import ipaddress

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Prefetch, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django_countries.fields import Country

from accounts import overview, roles, services
from accounts.adminkit import action_form, customer_filter
from accounts.audit import AuditEvent
from accounts.models import (
    Customer,
    Invitation,
    IPAssignment,
    Membership,
    ProviderDetails,
    Service,
    ServiceStatusChange,
    User,
)


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name")

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError(f"There is already a login for {email}.")
        return email


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class UserMembershipInline(admin.TabularInline):
    """Which customers the person acts for. Changed on the customer, where the last-owner rule is kept."""

    model = Membership
    fk_name = "user"
    fields = ("customer", "role", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name = "customer this person acts for"
    verbose_name_plural = "customers this person acts for"

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("customer")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined", "deactivated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("email", "full_name", "usable_password", "password1", "password2")},
        ),
    )
    readonly_fields = ("last_login", "date_joined")
    list_display = ("email", "full_name", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "full_name")
    ordering = ("email",)
    inlines = [UserMembershipInline]

    def get_inlines(self, request: HttpRequest, obj=None) -> list:
        return self.inlines if obj is not None else []


class MembershipInlineFormSet(BaseInlineFormSet):
    """Refuse a save that would leave a customer that had an owner with none."""

    def clean(self) -> None:
        super().clean()
        had_owner = any(form.initial.get("role") == roles.Role.OWNER for form in self.initial_forms)
        owners_left = [
            form
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("role") == roles.Role.OWNER
        ]
        if had_owner and not owners_left:
            raise ValidationError("The customer must keep at least one owner: make another contact an owner first.")


class MembershipInlineForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("user", "role")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A contact is a person: to put someone else in their place, add them and remove this one.
            self.fields["user"].disabled = True


class MembershipInline(admin.TabularInline):
    """The customer's contacts: staff change a role or remove a contact here, never add one.

    A contact is added by an invitation the person accepts (Accounts → Invitations, or
    the customer's owner in the portal): otherwise a member of staff could make themselves
    a customer's owner and reach its invoices and data.
    """

    model = Membership
    form = MembershipInlineForm
    formset = MembershipInlineFormSet
    fk_name = "customer"
    autocomplete_fields = ("user",)
    extra = 0
    verbose_name = "contact"
    verbose_name_plural = "contacts"

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("user")


class ServiceInline(admin.TabularInline):
    model = Service
    fields = ("name", "kind", "platform", "status", "started_on", "ended_on")
    extra = 0
    can_delete = False  # records of services supplied are accounting records
    show_change_link = True


class CountryInUseFilter(admin.SimpleListFilter):
    """Only the countries customers are in, not all 249."""

    title = "country"
    parameter_name = "country"

    def lookups(self, request, model_admin):
        codes = Customer.objects.order_by().values_list("country", flat=True).distinct()
        return sorted(((code, Country(code).name) for code in codes if code), key=lambda pair: pair[1])

    def queryset(self, request, queryset):
        return queryset.filter(country=self.value()) if self.value() else queryset


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("registered_name", "trading_name", "legal_form", "status", "company_number", "vat_number")
    list_filter = ("legal_form", "status", CountryInUseFilter)
    search_fields = (
        "registered_name",
        "trading_name",
        "company_number",
        "vat_number",
        "postcode",
        "memberships__user__email",
    )
    readonly_fields = ("created_at",)
    fieldsets = (
        (None, {"fields": ("legal_form", "registered_name", "trading_name", "company_number", "vat_number")}),
        ("Postal address", {"fields": ("address_line1", "address_line2", "town", "county", "postcode", "country")}),
        ("Contact", {"fields": ("phone",)}),
        ("Account", {"fields": ("currency", "status", "created_at", "closed_at")}),
    )
    inlines = [MembershipInline, ServiceInline]
    change_form_template = "admin/accounts/customer/change_form.html"

    @admin.display(description="Overview")
    def overview_link(self, obj: Customer) -> str:
        return format_html('<a href="{}">Overview</a>', reverse("admin:accounts_customer_overview", args=[obj.pk]))

    def get_list_display(self, request: HttpRequest):
        return (*self.list_display, "overview_link")

    def get_urls(self):
        return [
            path(
                "<int:pk>/overview/", self.admin_site.admin_view(self.overview_view), name="accounts_customer_overview"
            ),
            path("find/", self.admin_site.admin_view(self.find_view), name="accounts_customer_find"),
            *super().get_urls(),
        ]

    def overview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The customer whole, in the sections this member of staff may see (accounts.overview)."""
        customer = get_object_or_404(Customer, pk=pk)
        if not self.has_view_permission(request, customer):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": str(customer),
            "subtitle": "Customer overview",
            "opts": self.model._meta,
            "original": customer,
            "customer": customer,
            "sections": overview.sections_for(request, customer),
        }
        return TemplateResponse(request, "admin/accounts/customer/overview.html", context)

    def find_view(self, request: HttpRequest) -> HttpResponse:
        """The home page's search: one customer found opens their overview; otherwise the list of matches."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        term = request.GET.get("q", "").strip()
        if term:
            found, _ = self.get_search_results(request, self.get_queryset(request), term)
            matches = list(found.order_by().values_list("pk", flat=True).distinct()[:2])
            if len(matches) == 1:
                return HttpResponseRedirect(reverse("admin:accounts_customer_overview", args=matches))
        return HttpResponseRedirect(overview.admin_url("accounts_customer_changelist", **({"q": term} if term else {})))

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        """Everything done on the customer's account, not only to the customer record."""
        url = reverse("admin:accounts_auditevent_changelist")
        return HttpResponseRedirect(f"{url}?customer__id__exact={object_id}")

    def save_model(self, request: HttpRequest, obj: Customer, form, change: bool) -> None:
        if not change:
            return super().save_model(request, obj, form, change)  # a new customer: nothing to correct yet
        changes = {
            name: form.cleaned_data[name] for name in form.changed_data if name in services.STAFF_EDITABLE_FIELDS
        }
        if changes:
            services.update_customer_as_staff(obj, actor=request.user, changes=changes)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        changed = formset.save(commit=False)
        # Promotions first and removals last, so a hand-over of ownership in one save
        # never passes through a moment with no owner.
        changed.sort(key=lambda m: m.role != roles.Role.OWNER)
        for membership in changed:
            if membership.pk is None:
                membership.save()
            else:
                services.change_contact_role(membership, role=membership.role, actor=request.user)
        for membership in formset.deleted_objects:
            services.remove_contact(membership, actor=request.user)
        return None


class IPAssignmentInline(admin.TabularInline):
    model = IPAssignment
    fields = ("network", "assigned_on", "released_on")
    extra = 1


class ServiceStatusChangeInline(admin.TabularInline):
    """The service's history: read only, written by suspend/restore/end in accounts.services."""

    model = ServiceStatusChange
    fields = ("changed_at", "from_status", "to_status", "source", "reason", "actor_label")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "History"

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class StatusChangeForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Told to the customer in the email we send them."
    )
    source = forms.ChoiceField(choices=ServiceStatusChange.Source.choices, initial=ServiceStatusChange.Source.STAFF)


class AuditHistoryMixin:
    """The admin's History button shows the audit trail of the object (who did what)."""

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        content_type = ContentType.objects.get_for_model(self.model)
        url = reverse("admin:accounts_auditevent_changelist")
        return HttpResponseRedirect(f"{url}?target_type__id__exact={content_type.pk}&target_id={object_id}")


@admin.register(Service)
class ServiceAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("name", "customer", "kind", "platform", "state", "started_on", "ended_on")
    list_filter = ("kind", "platform", "status", customer_filter())
    list_select_related = ("customer",)
    search_fields = ("name", "customer__registered_name", "customer__trading_name", "ip_assignments__network")
    autocomplete_fields = ("customer",)
    inlines = [IPAssignmentInline, ServiceStatusChangeInline]
    actions = ["suspend", "restore"]

    @admin.display(description="Status", ordering="status")
    def state(self, obj: Service) -> str:
        return obj.state_label

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        # A service's state changes through the actions below, so it is recorded and the
        # customer told; a new service is created in whatever state it starts in.
        return ("status", "ended_on") if obj is not None else ()

    def has_status_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.add_servicestatuschange")

    def _change_status(
        self, request: HttpRequest, queryset: QuerySet, *, action: str, change, title: str, past: str, intro: str
    ):
        form = StatusChangeForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return action_form(
                self, request, queryset, form=form, action=action, title=title, intro=intro,
                items=[f"{service} — {service.customer} — {service.get_status_display()}" for service in queryset],
                submit=title,
            )  # fmt: skip
        for service in queryset:
            try:
                done = change(
                    service, actor=request.user, reason=form.cleaned_data["reason"], source=form.cleaned_data["source"]
                )
            except ValidationError as exc:
                messages.error(request, f"{service}: {'; '.join(exc.messages)}")
            else:
                told = (
                    "the customer has been emailed"
                    if done.customer_told
                    else "no contact receives service mail to tell"
                )
                messages.success(request, f"{service}: {past}; {told}.")
        return None

    @admin.action(description="Suspend services…", permissions=["status"])
    def suspend(self, request: HttpRequest, queryset: QuerySet):
        return self._change_status(
            request, queryset, action="suspend", change=services.suspend_service, title="Suspend", past="suspended",
            intro="Suspend each of these services. The customer's owners and technical contacts are emailed the "
            "reason at once, and the service's history records who did it and why.",
        )  # fmt: skip

    @admin.action(description="Restore suspended services…", permissions=["status"])
    def restore(self, request: HttpRequest, queryset: QuerySet):
        return self._change_status(
            request, queryset, action="restore", change=services.restore_service, title="Restore", past="restored",
            intro="Bring each of these suspended services back. The customer is emailed, and the history records it.",
        )  # fmt: skip


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail: read only. Filter by customer from the customer's page, or by
    object from any object's History button."""

    list_display = ("occurred_at", "actor_label", "action", "summary", "customer", "target_label", "ip_address")
    list_filter = ("action", "security", ("occurred_at", admin.DateFieldListFilter))
    list_select_related = ("customer",)
    search_fields = ("actor_label", "summary", "target_label", "customer__registered_name", "=ip_address")
    date_hierarchy = "occurred_at"
    fields = (
        "occurred_at", "actor_label", "action", "summary", "customer", "target_type", "target_id",
        "target_label", "ip_address", "changes", "security", "kept_until",
    )  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        target_id = request.GET.get("target_id")
        return queryset.filter(target_id=target_id) if target_id else queryset

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        return lookup in {"target_type__id__exact", "customer__id__exact"} or super().lookup_allowed(
            lookup, value, request
        )

    def get_changelist(self, request: HttpRequest, **kwargs):
        changelist = super().get_changelist(request, **kwargs)

        class TargetAware(changelist):
            def get_filters_params(self, params=None):
                params = super().get_filters_params(params)
                params.pop("target_id", None)  # applied in get_queryset
                return params

        return TargetAware

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(IPAssignment)
class IPAssignmentAdmin(admin.ModelAdmin):
    list_display = ("network", "service", "customer", "version", "assigned_on", "released_on")
    list_filter = ("version", ("released_on", admin.EmptyFieldListFilter))
    list_select_related = ("service__customer",)
    search_fields = ("network", "service__name", "service__customer__registered_name")
    search_help_text = "An address finds the assignment that contains it, e.g. 198.51.100.7."
    autocomplete_fields = ("service",)

    @admin.display(ordering="service__customer__registered_name")
    def customer(self, obj: IPAssignment) -> Customer:
        return obj.service.customer

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        try:
            ipaddress.ip_address(term)
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.containing(term), False


class InvitationAddForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ("customer", "email", "role")

    def clean(self) -> dict:
        cleaned = super().clean()
        customer, email = cleaned.get("customer"), cleaned.get("email")
        if customer and email and customer.memberships.filter(user__email__iexact=email).exists():
            self.add_error("email", f"{email} is already a contact of {customer}.")
        return cleaned


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations are sent (and their token made) by accounts.services.invite_contact; never edited."""

    form = InvitationAddForm
    list_display = ("email", "customer", "role", "invited_by", "created_at", "expires_at", "state")
    list_filter = ("role",)
    list_select_related = ("customer", "invited_by")
    search_fields = ("email", "customer__registered_name", "customer__trading_name")
    autocomplete_fields = ("customer",)
    readonly_fields = (
        "customer",
        "email",
        "role",
        "token_hash",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    )
    actions = ["withdraw"]

    @admin.display(description="state")
    def state(self, obj: Invitation) -> str:
        if obj.accepted_at:
            return "accepted"
        if obj.revoked_at:
            return "withdrawn"
        return "open" if obj.is_open else "expired"

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj=None):
        return self.readonly_fields if obj is not None else InvitationAddForm.Meta.fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # removed by the retention sweep, 30 days after expiry

    def save_model(self, request: HttpRequest, obj: Invitation, form, change: bool) -> None:
        invitation = services.invite_contact(
            form.cleaned_data["customer"],
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            actor=request.user,
            link_base=request.build_absolute_uri("/"),
        )
        obj.pk = invitation.pk
        obj._state.adding = False

    @admin.action(description="Withdraw the selected invitations", permissions=["add"])
    def withdraw(self, request: HttpRequest, queryset: QuerySet) -> None:
        withdrawn = 0
        for invitation in queryset:
            if invitation.is_open:
                services.revoke_invitation(invitation, actor=request.user)
                withdrawn += 1
        self.message_user(request, f"{withdrawn} invitation(s) withdrawn; their links no longer work.")


@admin.register(ProviderDetails)
class ProviderDetailsAdmin(admin.ModelAdmin):
    """One row: the trading disclosures on every page, email and PDF (Companies Act 2006;
    how the provider bills is billing's own settings page)."""

    fieldsets = (
        ("Company", {"fields": ("registered_name", "trading_name", "legal_form", "registered_in", "company_number")}),
        ("Addresses", {"fields": ("registered_office", "website", "phone")}),
        ("VAT", {"fields": ("vat_number",)}),
        ("Email addresses", {"fields": ("support_email", "billing_email", "abuse_email", "privacy_email")}),
        (
            "security.txt (RFC 9116)",
            {"fields": ("security_contact", "security_txt_expires", "security_policy_url", "security_languages")},
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not ProviderDetails.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        details = ProviderDetails.current()
        if details is not None:
            return HttpResponseRedirect(reverse("admin:accounts_providerdetails_change", args=[details.pk]))
        if self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:accounts_providerdetails_add"))
        return super().changelist_view(request, extra_context)


# -- The customer overview's sections that accounts owns (accounts.overview) ------------------


@overview.section(10)
def details_section(request: HttpRequest, customer: Customer) -> overview.Section:
    """Who the customer is (the overview itself needs the permission to view customers)."""
    address = format_html_join(mark_safe("<br>"), "{}", ((line,) for line in customer.postal_address_lines()))
    facts = [
        ("Registered name", customer.registered_name),
        ("Trading name", customer.trading_name or None),
        ("Legal form", customer.get_legal_form_display()),
        ("Company number", customer.company_number or None),
        ("VAT number", customer.vat_number or None),
        ("Postal address", address),
        ("Phone", customer.phone or None),
        ("Account currency", customer.currency),
        (
            "Status",
            customer.get_status_display() + (f" since {customer.closed_at:%-d %b %Y}" if customer.closed_at else ""),
        ),
        ("Customer since", overview.when(customer.created_at)),
    ]
    actions = []
    if request.user.has_perm("accounts.change_customer"):
        actions.append(
            overview.Link("Edit details and contacts", overview.admin_url("accounts_customer_change", customer.pk))
        )
    return overview.Section(
        "details", "Details", facts=[(label, value) for label, value in facts if value], actions=actions
    )


@overview.section(20)
def contacts_section(request: HttpRequest, customer: Customer) -> overview.Section | None:
    if not request.user.has_perm("accounts.view_membership"):
        return None
    shown, total = overview.latest(
        customer.memberships.select_related("user").order_by(
            # Owners first, then billing and technical contacts, by name.
            models.Case(*(models.When(role=role, then=n) for n, role in enumerate(roles.Role.values)), default=9),
            "user__email",
        )
    )
    actions = []
    if request.user.has_perm("accounts.add_invitation"):
        actions.append(
            overview.Link("Invite a contact", overview.admin_url("accounts_invitation_add", customer=customer.pk))
        )
    if request.user.has_perm("accounts.change_membership"):
        actions.append(overview.Link("Change roles", overview.admin_url("accounts_customer_change", customer.pk)))
    return overview.Section(
        "contacts", "Contacts and roles", ("Name", "Email", "Role", "Since"),
        rows=[(m.user.full_name or "—", m.user.email, m.get_role_display(), overview.when(m.created_at))
              for m in shown],
        total=total, all_url=overview.admin_url("accounts_customer_change", customer.pk), actions=actions,
        empty="No contacts: invite one.",
    )  # fmt: skip


@overview.section(30)
def services_section(request: HttpRequest, customer: Customer) -> overview.Section | None:
    user = request.user
    if not user.has_perm("accounts.view_service"):
        return None
    services_ = customer.services.order_by("-started_on", "name")
    see_addresses = user.has_perm("accounts.view_ipassignment")
    if see_addresses:
        current = IPAssignment.objects.filter(released_on__isnull=True).order_by("first_key")
        services_ = services_.prefetch_related(Prefetch("ip_assignments", queryset=current))
    shown, total = overview.latest(services_)
    may_change_status = user.has_perm("accounts.add_servicestatuschange")

    def status_button(service: Service) -> overview.Link | None:
        if not may_change_status or service.has_ended:
            return None
        if service.status == Service.Status.SUSPENDED:
            return overview.action_button("Restore…", "accounts_service_changelist", "restore", [service.pk])
        return overview.action_button("Suspend…", "accounts_service_changelist", "suspend", [service.pk])

    rows = [
        (
            overview.Link(service.name, overview.admin_url("accounts_service_change", service.pk)),
            service.get_kind_display(),
            service.state_label,
            *((", ".join(a.network for a in service.ip_assignments.all()) or "—",) if see_addresses else ()),
            status_button(service),
        )
        for service in shown
    ]
    actions = []
    if user.has_perm("accounts.add_service"):
        actions.append(overview.Link("Add a service", overview.admin_url("accounts_service_add", customer=customer.pk)))
    columns = ("Service", "Kind", "Status", *(("IP addresses",) if see_addresses else ()), "")
    return overview.Section(
        "services", "Services and IP addresses" if see_addresses else "Services", columns, rows=rows, total=total,
        all_url=overview.admin_url("accounts_service_changelist", customer=customer.pk), actions=actions,
        empty="No services.",
    )  # fmt: skip


@overview.section(100)
def audit_section(request: HttpRequest, customer: Customer) -> overview.Section | None:
    if not request.user.has_perm("accounts.view_auditevent"):
        return None
    shown, total = overview.latest(AuditEvent.objects.filter(customer=customer).order_by("-occurred_at", "-pk"))
    url = functools.partial(overview.admin_url, "accounts_auditevent_change")
    return overview.Section(
        "audit", "Audit trail", ("When", "Who", "What"),
        rows=[
            (
                overview.Link(f"{timezone.localtime(event.occurred_at):%-d %b %Y %H:%M}", url(event.pk)),
                event.actor_label,
                event.summary or event.action,
            )
            for event in shown
        ],
        total=total, all_url=overview.admin_url("accounts_auditevent_changelist", customer__id__exact=customer.pk),
        empty="Nothing recorded yet.",
    )  # fmt: skip


# Correspondence admin (messages, quarantine, replies) lives with the correspondence package.
from accounts.correspondence import admin as correspondence_admin  # noqa: E402, F401
