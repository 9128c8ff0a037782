"""People, the customers they act for, and what those customers hold.

- ``User``: a person who logs in (by email only). Owned by allauth's flows.
- ``Customer``: the organisation or individual we contract with.
- ``Membership``: a person acting for a customer in a role (accounts.roles).
- ``Invitation``: an owner's invitation for someone to become a contact.
- ``Service`` and ``IPAssignment``: what the customer holds and its addresses.
- ``ProviderDetails``: the provider's own trading disclosures (one row).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import secrets
import time

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_countries.fields import CountryField

from accounts import roles
from accounts.postal import address_lines, normalise_area, normalise_phone, normalise_postcode
from accounts.vat import normalise_vat_number
from core.registry import TAX_RECORDS_RULE, Category, Erasure, LawfulBasis, Retention, no_personal_data, personal_data

ACCOUNT_LIFETIME = {
    # Contract records: kept 6 years after the account closes, the limitation period
    # for contract claims in England and Wales (Limitation Act 1980 s.5).
    "years": 6,
}


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


@personal_data(
    description="Your login account.",
    categories=[Category.ACCOUNT, Category.IDENTITY],
    fields=["email", "full_name", "password", "last_login", "date_joined"],
    portable_fields=["email", "full_name", "date_joined"],
    purpose="Let you log in and act for the customers you belong to.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="memberships__customer",
    person_path="",
    retention=Retention(
        counted_from="deactivated_at",
        months=1,
        description="Kept while you can log in; removed a month after your login is closed.",
    ),
    erasure=Erasure.anonymise(
        {
            "email": lambda user: f"erased-{user.pk}@invalid",
            "full_name": "",
            "is_active": False,
            "password": "!",  # an unusable password: nobody can log in with it
            "deactivated_at": lambda user: user.deactivated_at or timezone.now(),
        },
        reason="The login is closed; the row stays only so that past actions keep an author.",
    ),
)
class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in. Email is the only identifier (no usernames)."""

    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Can log in to the admin site.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def is_accountant(self) -> bool:
        return self.groups.filter(name=roles.ACCOUNTANT_GROUP).exists()

    @property
    def must_use_mfa(self) -> bool:
        """Staff and accountants reach nothing without MFA (accounts.middleware.RequireMFAMiddleware)."""
        return self.is_staff or self.is_superuser or self.is_accountant

    def customer_memberships(self) -> MembershipQuerySet:
        """The customers this person acts for, by name, as the customer switcher lists them."""
        return self.memberships.select_related("customer").order_by("customer__registered_name", "pk")


class LegalForm(models.TextChoices):
    LIMITED_COMPANY = "limited_company", "Limited company"
    LLP = "llp", "Limited liability partnership"
    SOLE_TRADER = "sole_trader", "Sole trader"
    INDIVIDUAL = "individual", "Individual (consumer)"
    PUBLIC_BODY = "public_body", "Public body"

    @classmethod
    def with_company_number(cls) -> set[str]:
        return {cls.LIMITED_COMPANY, cls.LLP}

    @classmethod
    def business(cls) -> set[str]:
        """The Late Payment of Commercial Debts Act applies to these; never to consumers."""
        return {cls.LIMITED_COMPANY, cls.LLP, cls.SOLE_TRADER, cls.PUBLIC_BODY}

    @classmethod
    def with_vat_number(cls) -> set[str]:
        """A consumer buys as a private person: VAT registration is a business's."""
        return cls.business()

    @classmethod
    def with_trading_name(cls) -> set[str]:
        return cls.business()


class CustomerQuerySet(models.QuerySet):
    def visible_to(self, user) -> CustomerQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user).distinct()


def validate_currency(code: str) -> None:
    from babel.numbers import list_currencies

    if code not in list_currencies():
        raise ValidationError(f"{code!r} is not an ISO 4217 currency code (e.g. GBP, EUR, USD).")


@personal_data(
    description="The customer account: names, legal form, numbers and postal address.",
    categories=[Category.IDENTITY, Category.CONTACT],
    fields=[
        "registered_name",
        "trading_name",
        "company_number",
        "vat_number",
        "address_line1",
        "address_line2",
        "town",
        "county",
        "postcode",
        "country",
        "phone",
    ],
    context=["legal_form", "currency", "status", "created_at", "closed_at"],
    purpose="Know whom we contract with, address invoices to them (VAT Regulations 1995 reg 14).",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="",
    retention=Retention(
        counted_from="closed_at",
        description="Kept while the account is open and 6 years after it closes "
        "(limitation period for contract claims).",
        **ACCOUNT_LIFETIME,
    ),
    erasure=Erasure.keep(
        "Issued invoices must show the customer's name and address for 6 years "
        f"({TAX_RECORDS_RULE}). The rest is anonymised when retention ends."
    ),
)
class Customer(models.Model):
    """Whom we contract with: a company, partnership, sole trader, individual or public body.

    Rows are created by staff (or the demo loader) and edited by the customer's owners
    through ``accounts.services.update_customer_details``.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        CLOSED = "closed", "Closed"

    legal_form = models.CharField(max_length=20, choices=LegalForm.choices)
    registered_name = models.CharField(
        max_length=200, help_text="The legal name: the company's registered name, or the person's full name."
    )
    trading_name = models.CharField(max_length=200, blank=True)
    company_number = models.CharField(max_length=20, blank=True)
    vat_number = models.CharField("VAT number", max_length=20, blank=True)
    address_line1 = models.CharField("address line 1", max_length=200)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    town = models.CharField("town or city", max_length=100)
    county = models.CharField("county or region", max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    country = CountryField(default="GB")
    phone = models.CharField(max_length=40, blank=True)
    currency = models.CharField(
        max_length=3,
        default="GBP",
        validators=[validate_currency],
        help_text="ISO 4217 code: invoices are issued, and plans must be priced, in this currency.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["registered_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="closed", closed_at__isnull=False) | ~Q(status="closed"),
                name="customer_closed_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.trading_name or self.registered_name

    @property
    def is_business(self) -> bool:
        return self.legal_form in LegalForm.business()

    def postal_address_lines(self) -> list[str]:
        """The address as the post of its country writes it (``accounts.postal.address_lines``),
        with the country's name last when it is not the UK."""
        lines = address_lines(
            country=self.country.code or "GB",
            street=[self.address_line1, self.address_line2],
            town=self.town,
            area=self.county,
            postcode=self.postcode,
        )
        if self.country and self.country.code != "GB":
            lines.append(self.country.name)
        return lines

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.legal_form in LegalForm.with_company_number() and not self.company_number:
            errors.setdefault("company_number", []).append("A company number is required for a limited company or LLP.")
        form_label = LegalForm(self.legal_form).label.lower() if self.legal_form in LegalForm.values else ""
        if self.company_number and self.legal_form not in LegalForm.with_company_number():
            errors.setdefault("company_number", []).append(
                f"Only a limited company or LLP has a company number, not a {form_label}: leave it empty."
            )
        if self.vat_number and self.legal_form not in LegalForm.with_vat_number():
            errors.setdefault("vat_number", []).append(
                f"An {form_label} buys as a private person and has no VAT number: leave it empty, or ask us to "
                "change the legal form if the account is a business's."
            )
        if self.vat_number:
            try:
                self.vat_number = normalise_vat_number(self.vat_number, country=self.country.code or "GB")
            except ValidationError as exc:
                errors.setdefault("vat_number", []).extend(exc.messages)
        country = self.country.code or "GB"
        try:
            self.postcode = normalise_postcode(
                self.postcode, country=country, town=self.town, area=self.county, street=self.address_line1
            )
        except ValidationError as exc:
            errors.setdefault("postcode", []).extend(exc.messages)
        try:
            self.county = normalise_area(
                self.county, country=country, town=self.town, postcode=self.postcode, street=self.address_line1
            )
        except ValidationError as exc:
            errors.setdefault("county", []).extend(exc.messages)
        try:
            self.phone = normalise_phone(self.phone, country=country)
        except ValidationError as exc:
            errors.setdefault("phone", []).extend(exc.messages)
        if self.status == self.Status.CLOSED and not self.closed_at:
            self.closed_at = timezone.now()
        if self.pk and self._billed_in_another_currency():
            errors.setdefault("currency", []).append(
                f"{self} already has invoices or payments in another currency: the account stays in it. "
                "Open a new customer account to bill in another currency."
            )
        if errors:
            raise ValidationError(errors)

    def _billed_in_another_currency(self) -> bool:
        # Money kept in the stored currency (billing's invoices, payments, refunds) would no
        # longer add up. Found through the reverse relations, so accounts imports no billing.
        stored = Customer.objects.filter(pk=self.pk).values_list("currency", flat=True).first()
        if stored is None or stored == self.currency:
            return False
        return any(
            relation.related_model._default_manager.filter(**{relation.field.name: self}).exists()
            for relation in self._meta.related_objects
            if any(field.name == "currency" for field in relation.related_model._meta.concrete_fields)
        )


class MembershipQuerySet(models.QuerySet):
    def owners(self) -> MembershipQuerySet:
        return self.filter(role=roles.Role.OWNER)


@personal_data(
    description="Which people act for the customer, and in which role.",
    categories=[Category.ACCOUNT],
    fields=["role", "created_at"],
    context=["user__full_name", "user__email"],
    purpose="Decide what each person may see and do for the customer.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="customer",
    person_path="user",
    retention=Retention(counted_from="customer__closed_at", years=6, description="Kept with the customer account."),
    erasure=Erasure.delete(),
)
class Membership(models.Model):
    """A person acting for a customer in a role. The last owner cannot leave."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=roles.Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["customer", "user__email"]
        constraints = [models.UniqueConstraint(fields=["user", "customer"], name="one_membership_per_customer")]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} of {self.customer}"

    def can(self, action: str) -> bool:
        return roles.allows(self.role, action)

    @property
    def permissions(self) -> frozenset[str]:
        """The actions this role allows, for templates: ``{% if "view_services" in m.permissions %}``."""
        return frozenset(action.value for action in roles.Action if roles.allows(self.role, action))


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@personal_data(
    description="Invitations sent to people to become contacts.",
    categories=[Category.CONTACT],
    fields=["email"],
    context=["role", "created_at", "expires_at", "accepted_at", "revoked_at"],
    purpose="Let an owner add a contact to the account.",
    lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
    customer_path="customer",
    retention=Retention(
        counted_from="expires_at", days=30, description="Deleted 30 days after the invitation expires."
    ),
    erasure=Erasure.delete(),
)
class Invitation(models.Model):
    """An owner's invitation for someone to join a customer in a role.

    Only a hash of the token is stored, so a database leak yields no usable links.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=roles.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation for {self.email} to {self.customer}"

    @staticmethod
    def new_token() -> tuple[str, str]:
        token = secrets.token_urlsafe(32)
        return token, _hash_token(token)

    @classmethod
    def find_open(cls, token: str) -> Invitation | None:
        return (
            cls.objects.select_related("customer")
            .filter(
                token_hash=_hash_token(token),
                accepted_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=timezone.now(),
            )
            .first()
        )

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class ServiceQuerySet(models.QuerySet):
    def for_customer(self, customer: Customer) -> ServiceQuerySet:
        return self.filter(customer=customer)

    def ended(self, *, today: dt.date | None = None) -> ServiceQuerySet:
        """Services that have ended: marked so, or past the last day recorded when they were ended."""
        today = today or timezone.localdate()
        return self.filter(models.Q(status=Service.Status.ENDED) | models.Q(ended_on__lt=today))

    def current(self, *, today: dt.date | None = None) -> ServiceQuerySet:
        today = today or timezone.localdate()
        return self.exclude(status=Service.Status.ENDED).exclude(ended_on__lt=today)


@personal_data(
    description="The services you hold with us.",
    categories=[Category.SERVICE],
    fields=["customer", "started_on", "ended_on"],
    not_personal={"name": "A host name chosen for the server, such as web-01."},
    context=["name", "kind", "status"],
    purpose="Provide and bill the services you ordered.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="customer",
    retention=Retention(
        counted_from="ended_on",
        years=6,
        from_financial_year_end=True,
        description="Records of services are accounting records: 6 years from the end "
        "of the financial year in which the service ended.",
    ),
    erasure=Erasure.keep(f"Records of services supplied are business records kept for 6 years ({TAX_RECORDS_RULE})."),
)
class Service(models.Model):
    """What a customer holds: a virtual or physical server, colocation, or other.

    Platform matters for storage access: virtual servers' data may be accessed only to run
    the service or at the customer's explicit request; physical servers' not at all.
    """

    class Kind(models.TextChoices):
        VPS = "vps", "Virtual private server"
        DEDICATED = "dedicated", "Dedicated server"
        COLOCATION = "colocation", "Colocation"
        OTHER = "other", "Other"

    class Platform(models.TextChoices):
        VIRTUAL = "virtual", "Virtual"
        PHYSICAL = "physical", "Physical"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        ENDED = "ended", "Ended"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="services")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    platform = models.CharField(max_length=10, choices=Platform.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    started_on = models.DateField(default=timezone.localdate)
    ended_on = models.DateField(null=True, blank=True)

    objects = ServiceQuerySet.as_manager()

    class Meta:
        ordering = ["customer", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_ended(self) -> bool:
        return self.status == self.Status.ENDED or (self.ended_on is not None and self.ended_on < timezone.localdate())

    @property
    def state(self) -> str:
        """The state a person should read: ``ended`` once past its last day, whatever the
        stored status says until someone next changes the row."""
        return self.Status.ENDED if self.has_ended else self.status

    @property
    def state_label(self) -> str:
        """ "Ended on 3 December 2026", "Active until 31 December 2026", "Active"."""
        if self.has_ended:
            return f"Ended on {self.ended_on:%-d %B %Y}" if self.ended_on else "Ended"
        label = self.Status(self.status).label
        if self.ended_on:
            return f"{label} until {self.ended_on:%-d %B %Y}"
        return label

    def clean(self) -> None:
        if self.kind == self.Kind.VPS and self.platform != self.Platform.VIRTUAL:
            raise ValidationError({"platform": "A virtual private server is on the virtual platform."})
        if self.kind in (self.Kind.DEDICATED, self.Kind.COLOCATION) and self.platform != self.Platform.PHYSICAL:
            raise ValidationError({"platform": f"A {self.get_kind_display().lower()} is on the physical platform."})
        if self.ended_on and self.ended_on < self.started_on:
            raise ValidationError({"ended_on": "A service cannot end before it starts."})


@personal_data(
    description="When your services were suspended, restored or ended, and why.",
    categories=[Category.SERVICE],
    fields=["reason", "actor_label"],
    not_personal={"source": "Why in one word: non-payment, abuse, staff or customer."},
    context=["service__name", "from_status", "to_status", "source", "changed_at"],
    purpose="Provide the services you ordered and show you what happened to them.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="service__customer",
    retention=Retention(
        counted_from="service__ended_on",
        years=6,
        from_financial_year_end=True,
        description="Kept with the record of the service: 6 years from the end of the financial year "
        "in which the service ended.",
    ),
    erasure=Erasure.keep(f"Part of the record of services supplied, kept for 6 years ({TAX_RECORDS_RULE})."),
)
class ServiceStatusChange(models.Model):
    """One change of a service's state, with who made it and why: the service's history."""

    class Source(models.TextChoices):
        NON_PAYMENT = "non_payment", "Non-payment"
        ABUSE = "abuse", "Abuse"
        STAFF = "staff", "Staff"
        CUSTOMER = "customer", "Customer"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, choices=Service.Status.choices)
    to_status = models.CharField(max_length=20, choices=Service.Status.choices)
    source = models.CharField(max_length=20, choices=Source.choices)
    reason = models.TextField(help_text="Told to the customer.")
    actor = models.ForeignKey("User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=200)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-pk"]
        verbose_name = "service status change"

    def __str__(self) -> str:
        return f"{self.service}: {self.from_status} → {self.to_status}"


def _address_key(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """A fixed-width hex key that sorts like the address, across IPv4 and IPv6.

    IPv4 is placed in the IPv4-mapped IPv6 range, so both families share one ordering
    and overlap can be checked with plain string comparisons on any database.
    """
    if address.version == 4:
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    return f"{int(address):032x}"


class IPAssignmentQuerySet(models.QuerySet):
    def current(self) -> IPAssignmentQuerySet:
        return self.filter(released_on__isnull=True)

    def containing(self, address: str) -> IPAssignmentQuerySet:
        """Assignments whose network contains ``address``. Every stored network is a
        CIDR prefix, so it starts at the address with its host bits cleared for one prefix
        length: one indexed look-up per length instead of a range scan over the history."""
        parsed = ipaddress.ip_address(address)
        key = _address_key(parsed)
        bits, value = parsed.max_prefixlen, int(parsed)
        offset = int(ipaddress.IPv6Address("::ffff:0.0.0.0")) if parsed.version == 4 else 0
        starts = {
            f"{offset + (value >> (bits - length) << (bits - length) if length else 0):032x}"
            for length in range(bits + 1)
        }
        return self.filter(first_key__in=sorted(starts), last_key__gte=key)

    def overlapping(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> IPAssignmentQuerySet:
        first, last = _address_key(network.network_address), _address_key(network.broadcast_address)
        return self.filter(first_key__lte=last, last_key__gte=first)


@personal_data(
    description="IP addresses and prefixes assigned to your services.",
    categories=[Category.SERVICE, Category.NETWORK],
    fields=["network", "assigned_on", "released_on"],
    context=["version", "service__name"],
    purpose="Route traffic to your services, bill usage and match abuse reports to services.",
    lawful_basis=LawfulBasis.CONTRACT,
    customer_path="service__customer",
    belongs_to=["service"],
    retention=Retention(
        counted_from="released_on",
        years=2,
        description="Kept 2 years after release, to answer abuse reports about past traffic.",
    ),
    erasure=Erasure.keep("Needed to answer abuse reports and legal claims about traffic from the address."),
)
class IPAssignment(models.Model):
    """An IPv4 or IPv6 address or prefix assigned to a service for a period.

    Current assignments never overlap, whoever holds them: abuse reports and usage are
    matched to services by address, and an address must lead to one service.
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="ip_assignments")
    network = models.CharField(
        max_length=43, help_text="An address or a prefix: 192.0.2.10, 198.51.100.0/29, 2001:db8::/48."
    )
    version = models.PositiveSmallIntegerField(editable=False)
    first_key = models.CharField(max_length=32, editable=False, db_index=True)
    last_key = models.CharField(max_length=32, editable=False)
    assigned_on = models.DateField(default=timezone.localdate)
    released_on = models.DateField(null=True, blank=True)

    objects = IPAssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["first_key"]
        verbose_name = "IP assignment"

    def __str__(self) -> str:
        return self.network

    def save(self, *args, **kwargs) -> None:
        self._set_keys()
        super().save(*args, **kwargs)

    def parsed(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        try:
            return ipaddress.ip_network(self.network.strip(), strict=True)
        except ValueError as exc:
            message = str(exc)
            if "host bits set" in message:
                suggestion = ipaddress.ip_network(self.network.strip(), strict=False)
                message = f"{self.network} has host bits set; did you mean {suggestion}?"
            raise ValidationError({"network": f"Not an IP address or prefix: {message}"}) from None

    def _set_keys(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        network = self.parsed()
        self.network, self.version = str(network), network.version
        self.first_key = _address_key(network.network_address)
        self.last_key = _address_key(network.broadcast_address)
        return network

    def clean(self) -> None:
        network = self._set_keys()
        if self.released_on is None:
            clash = (
                IPAssignment.objects.current()
                .overlapping(network)
                .exclude(pk=self.pk)
                .select_related("service__customer")
                .first()
            )
            if clash:
                raise ValidationError(
                    {
                        "network": f"{network} overlaps {clash.network}, already assigned to "
                        f"service {clash.service} of {clash.service.customer}."
                    }
                )


# This process's copy of the provider's details for page footers (ProviderDetails.cached).
FOOTER_CACHE_SECONDS = 30
_footer_copy: dict = {"until": float("-inf"), "value": None}


@no_personal_data("The provider's own published company details.")
class ProviderDetails(models.Model):
    """The provider's trading disclosures (Companies Act 2006; SI 2015/17).

    One row, edited by staff in the admin; every page footer, email and PDF reads it.
    How the provider bills (bank details, payment terms, billing day, pro-forma mode) is
    billing's own: ``billing.models.BillingSettings``.
    """

    registered_name = models.CharField(max_length=200)
    trading_name = models.CharField(max_length=200, blank=True)
    registered_in = models.CharField(
        max_length=100,
        default="England and Wales",
        help_text='Where the company is registered, e.g. "England and Wales".',
    )
    legal_form = models.CharField(
        max_length=20,
        choices=[(f, LegalForm(f).label) for f in (LegalForm.LIMITED_COMPANY, LegalForm.LLP)],
        default=LegalForm.LIMITED_COMPANY,
        help_text="Printed with the registration details on every invoice.",
    )
    company_number = models.CharField(max_length=20)
    registered_office = models.TextField(help_text="One line per row of the address.")
    vat_number = models.CharField("VAT number", max_length=20, blank=True)
    website = models.URLField(blank=True)
    support_email = models.EmailField()
    billing_email = models.EmailField()
    abuse_email = models.EmailField(
        help_text="RFC 2142: abuse@ your domain. Mail to it goes to the abuse desk, whichever customer it names."
    )
    privacy_email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    # /.well-known/security.txt (RFC 9116): served only while both Contact and Expires are known.
    security_contact = models.CharField(
        max_length=300,
        blank=True,
        help_text="security.txt Contact: a mailto: or https: address for reporting vulnerabilities "
        "(empty: the abuse address).",
    )
    security_txt_expires = models.DateTimeField(
        null=True,
        blank=True,
        help_text="security.txt Expires: when the file stops being valid (at most a year ahead). "
        "Staff are warned in the admin 30 days before.",
    )
    security_policy_url = models.URLField(
        verbose_name="security policy URL", blank=True, help_text="security.txt Policy: your disclosure policy."
    )
    security_languages = models.CharField(
        max_length=100, blank=True, default="en", help_text="security.txt Preferred-Languages, e.g. en, cy."
    )

    class Meta:
        verbose_name = "provider details"
        verbose_name_plural = "provider details"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="provider_details_singleton")]

    def __str__(self) -> str:
        return self.registered_name

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.vat_number:
            try:
                self.vat_number = normalise_vat_number(self.vat_number, country="GB")
            except ValidationError as exc:
                raise ValidationError({"vat_number": exc.messages}) from None
        contact = self.security_contact.strip()
        if contact and not contact.startswith(("mailto:", "https://", "tel:")):
            if "@" in contact and " " not in contact:
                self.security_contact = f"mailto:{contact}"
            else:
                raise ValidationError(
                    {
                        "security_contact": "Give a mailto:, https: or tel: address (RFC 9116), "
                        "e.g. mailto:security@example.net."
                    }
                )
        if self.security_txt_expires and self.security_txt_expires > timezone.now() + timezone.timedelta(days=366):
            raise ValidationError({"security_txt_expires": "RFC 9116 asks for an expiry less than a year ahead."})

    @property
    def security_txt_contact(self) -> str:
        return self.security_contact.strip() or (f"mailto:{self.abuse_email}" if self.abuse_email else "")

    @classmethod
    def current(cls) -> ProviderDetails | None:
        return cls.objects.filter(pk=1).first()

    @classmethod
    def cached(cls) -> ProviderDetails | None:
        """``current()`` for the footer of every page, kept by this process for up to
        ``FOOTER_CACHE_SECONDS`` so that a page does not read the same row each time.

        Saving or deleting the details forgets the copy in the process that did it at once;
        the web server's other processes show the change within that time. Whatever is
        issued or sent (invoices, PDFs, emails, security.txt) reads ``current()``."""
        now = time.monotonic()
        if _footer_copy["until"] <= now:
            _footer_copy["value"] = cls.current()
            _footer_copy["until"] = now + FOOTER_CACHE_SECONDS
        return _footer_copy["value"]

    @staticmethod
    def forget_cached(**_signal) -> None:
        _footer_copy["until"] = float("-inf")

    @property
    def display_name(self) -> str:
        return self.trading_name or self.registered_name

    def office_lines(self) -> list[str]:
        return [line.strip() for line in self.registered_office.splitlines() if line.strip()]

    def disclosure_line(self) -> str:
        """The statutory sentence for footers of pages, emails and PDFs."""
        parts = [
            f"{self.registered_name} is registered in {self.registered_in}, company number {self.company_number}",
            f"registered office: {', '.join(self.office_lines())}",
        ]
        if self.vat_number:
            parts.append(f"VAT number {self.vat_number}")
        return "; ".join(parts) + "."


models.signals.post_save.connect(ProviderDetails.forget_cached, sender=ProviderDetails)
models.signals.post_delete.connect(ProviderDetails.forget_cached, sender=ProviderDetails)
