"""Demo data for trying the portal: a fictional provider, customers, people, services,
their correspondence, and billing, as a short history that holds together.

The story: the provider's privacy policy and terms were in force before anyone joined.
Every customer's services and their subscriptions began on the first day of the month
two months ago (``history_start``). The billing run ran on each billing day since, so
each month's invoice is dated the day it was billed; two customers paid theirs by bank
transfer ten days later, and Tom Okafor has paid nothing, so his first invoice is
overdue and he has written to the billing address about it. Each customer's owner has
answered our welcome email with a question nobody has answered yet, a stranger's email
waits to be assigned or rejected, Ellen Marsh has asked for a copy of her personal data
(the privacy request's clock is running), and our request to look at a server's storage
waits for the customer. So every staff queue and every customer page has something real.

Idempotent: every row is found by its natural key (an email, a name, an address
block) and created only when missing, so running it again changes nothing and
never duplicates; rows a tester edited are left as they are. ``make run`` calls it.

Everything here is made up: the company, its numbers and the people. Addresses use
the ``.example`` domains (RFC 2606) and IP ranges reserved for documentation
(RFC 5737, RFC 3849).

The demo is seeded with model writes rather than the account services: it creates
what staff would otherwise create in the admin, and checks each new row with
``full_clean()`` so the demo never holds data the forms would refuse.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import time
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from accounts import roles
from accounts.audit import System
from accounts.correspondence import gateway, inbound
from accounts.correspondence.models import MailKind, Message
from accounts.models import Customer, IPAssignment, LegalForm, Membership, ProviderDetails, Service, User
from billing.documents.periods import add_months, day_in_month, month_bounds
from billing.models import (
    Accountant,
    AccountingFirm,
    BillingRun,
    BillingSettings,
    Invoice,
    Payment,
    Plan,
    Product,
)
from billing.usage.models import UsageSample, UsageTerms
from billing.workflows.run import run_billing
from billing.workflows.settlement import receive_payment
from billing.workflows.subscriptions import start_subscription
from privacy.models import DataSubjectRequest, PolicyVersion
from privacy.services import policies
from privacy.services import requests as privacy_requests
from privacy.storage import services as storage_access
from privacy.storage.models import StorageGrant

# Whoever loads the demo data: what it does is recorded in the audit trail as done by it.
DEMO = System("demo data")
# Published on purpose: demo logins are printed for anyone trying the portal.
DEMO_PASSWORD = "northwind-demo-2026"  # noqa: S105
# A fixed TOTP secret (base32, 20 bytes: the shape allauth's generate_totp_secret()
# makes) so a tester can add it to an authenticator app once and keep using it.
DEMO_TOTP_SECRET = "NORTHWINDHOSTINGDEMOTOTPSECRET22"  # noqa: S105

PROVIDER = {
    "registered_name": "Northwind Hosting Ltd",
    "trading_name": "Northwind Hosting",
    "registered_in": "England and Wales",
    "company_number": "09912345",
    "registered_office": "Unit 4, Example Business Park\nHarbour Road\nBristol\nBS1 9ZZ",
    "vat_number": "GB421987632",
    "website": "https://northwind-hosting.example/",
    "support_email": "support@northwind-hosting.example",
    "billing_email": "billing@northwind-hosting.example",
    "abuse_email": "abuse@northwind-hosting.example",
    "privacy_email": "privacy@northwind-hosting.example",
    "phone": "+44 117 496 0000",  # Ofcom's range for drama (Bristol): never a real line
}

# How customers pay the demo provider: complete and valid in form (issuing refuses while no
# payment method is configured), and plainly fictional: sort code 00-00-00 and account
# 00000000 are no one's, and "DEMO" in the IBAN and BIC is no bank's code.
BANK_DETAILS = {
    "bank_account_name": "Northwind Hosting Ltd (demo, not a real account)",
    "bank_sort_code": "00-00-00",
    "bank_account_number": "00000000",
    "bank_iban": "GB46DEMO00000000000000",
    "bank_bic": "DEMOGB22",
}

# The provider's documents, in force before the first customer joined.
POLICIES = {
    "privacy": "Northwind Hosting (a fictional provider) keeps its customers' personal data only for the "
    "purposes and periods shown in the privacy centre, and tells every customer what it has disclosed "
    "and to whom.",
    "terms": "Northwind Hosting (a fictional provider) supplies hosting services monthly, billed in advance "
    "on the first of the month; invoices are due 30 days after issue.",
}

CUSTOMERS = [
    {
        "legal_form": LegalForm.LIMITED_COMPANY,
        "registered_name": "Blackthorn Analytics Ltd",
        "trading_name": "Blackthorn Analytics",
        "company_number": "12345678",
        "vat_number": "GB335071229",
        "address_line1": "12 Example Row",
        "town": "Leeds",
        "postcode": "LS1 4ZZ",
        "country": "GB",
        "phone": "+44 113 496 0123",
    },
    {
        "legal_form": LegalForm.SOLE_TRADER,
        "registered_name": "Ellen Marsh",
        "trading_name": "Marsh Web Design",
        "address_line1": "Flat 3",
        "address_line2": "48 Sample Street",
        "town": "Norwich",
        "county": "Norfolk",
        "postcode": "NR2 9ZZ",
        "country": "GB",
    },
    {
        "legal_form": LegalForm.INDIVIDUAL,
        "registered_name": "Tom Okafor",
        "address_line1": "7 Demo Close",
        "town": "Cardiff",
        "postcode": "CF10 9ZZ",
        "country": "GB",
    },
]

# (email, full name, [(customer registered name, role)])
PEOPLE = [
    ("alice@blackthorn-analytics.example", "Alice Blackthorn", [("Blackthorn Analytics Ltd", roles.Role.OWNER)]),
    ("bob@blackthorn-analytics.example", "Bob Lindqvist", [("Blackthorn Analytics Ltd", roles.Role.BILLING)]),
    # Ellen runs her own business and looks after Blackthorn's servers: two customers,
    # so the customer switcher appears for her.
    (
        "ellen@marsh-webdesign.example",
        "Ellen Marsh",
        [("Ellen Marsh", roles.Role.OWNER), ("Blackthorn Analytics Ltd", roles.Role.TECHNICAL)],
    ),
    ("tom@okafor.example", "Tom Okafor", [("Tom Okafor", roles.Role.OWNER)]),
]

# (customer registered name, service name, kind, platform, [networks])
SERVICES = [
    (
        "Blackthorn Analytics Ltd",
        "bt-web-01",
        Service.Kind.VPS,
        Service.Platform.VIRTUAL,
        ["192.0.2.10", "2001:db8:10::/64"],
    ),
    (
        "Blackthorn Analytics Ltd",
        "bt-db-01",
        Service.Kind.DEDICATED,
        Service.Platform.PHYSICAL,
        ["192.0.2.20", "2001:db8:20::/64"],
    ),
    (
        "Blackthorn Analytics Ltd",
        "bt-rack-a12",
        Service.Kind.COLOCATION,
        Service.Platform.PHYSICAL,
        ["198.51.100.0/29", "2001:db8:1200::/48"],
    ),
    ("Ellen Marsh", "marsh-vps-01", Service.Kind.VPS, Service.Platform.VIRTUAL, ["192.0.2.30", "2001:db8:30::/64"]),
    ("Tom Okafor", "okafor-vps", Service.Kind.VPS, Service.Platform.VIRTUAL, ["203.0.113.40", "2001:db8:40::/64"]),
    ("Tom Okafor", "okafor-backup", Service.Kind.OTHER, Service.Platform.VIRTUAL, ["203.0.113.41"]),
]

# (plan name, period, price, setup fee)
# Products and their prices: (product, period, price, setup fee).
PLANS = [
    ("VPS Small", "monthly", "12.50", "0"),
    ("VPS Small", "annual", "135.00", "0"),
    ("Dedicated Server", "monthly", "149.00", "49.00"),
    ("Dedicated Server", "annual", "1609.00", "0"),
    ("Colocation, quarter rack", "quarterly", "240.00", "0"),
    ("Backup 100 GB", "monthly", "5.00", "0"),
]
# service name → plan name
SUBSCRIPTIONS = {
    "bt-web-01": "VPS Small",
    "bt-db-01": "Dedicated Server",
    "bt-rack-a12": "Colocation, quarter rack",
    "marsh-vps-01": "VPS Small",
    "okafor-vps": "VPS Small",
    "okafor-backup": "Backup 100 GB",
}
# Plans that bill bandwidth (docs/usage.md): a transfer allowance on the VPS, the 95th
# percentile on the dedicated server.
USAGE_TERMS = {
    "VPS Small": {"method": "transfer", "directions": "in_and_out", "allowance_gb": "1000", "price_per_gb": "0.05"},
    "Dedicated Server": {"method": "percentile", "commit_mbps": "100", "price_per_mbps": "1.50"},
}
# Typical outbound rate of each demo service, Mbit/s (5 if not named).
DEMO_USAGE_MBPS = {"bt-web-01": 4, "bt-db-01": 80, "marsh-vps-01": 1, "okafor-vps": 3}
# Who pays each invoice, ten days after it is issued; the rest owe theirs (so balances
# differ, and Tom Okafor's first invoice is overdue).
PAYING_CUSTOMERS = ["Blackthorn Analytics Ltd", "Ellen Marsh"]
PAID_AFTER_DAYS = 10

STAFF_EMAIL = "admin@northwind-hosting.example"
ACCOUNTANT_EMAIL = "accountant@ledgerline-accounts.example"


# What each contact role sees (accounts.roles.PERMISSIONS is the authority).
ROLE_SEES = {
    roles.Role.OWNER: "everything; edits details, manages contacts",
    roles.Role.BILLING: "services, contacts, billing; changes nothing",
    roles.Role.TECHNICAL: "services, contacts; no billing",
}


@dataclass
class Login:
    email: str
    rows: list[tuple[str, str]]  # (role, what they see)


def _create(model: type[Model], **values) -> Model:
    """Create a row after the same validation the admin and forms apply."""
    obj = model(**values)
    obj.full_clean()
    obj.save()
    return obj


def history_start() -> dt.date:
    """The first day of the month two months ago: when the demo's story begins."""
    this_month, _ = month_bounds(timezone.localdate())
    return add_months(this_month, -2)


def _owner(customer: Customer) -> Membership:
    return customer.memberships.filter(role=roles.Role.OWNER).select_related("user").first()


class Command(BaseCommand):
    help = "Load idempotent demo data (a fictional provider, customers, people, services) and print the logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even when PORTAL_ENV=production (it creates logins with a published password).",
        )

    def handle(self, *args, force: bool = False, **options) -> None:
        if settings.PORTAL_ENV == "production" and not force:
            raise CommandError(
                "Refusing to load demo data with PORTAL_ENV=production: it creates logins with a published "
                "password and MFA secret. Use --force if you really mean it."
            )
        start = history_start()
        with transaction.atomic():
            self.created = 0
            self._provider()
            self._policies(start)
            customers = {values["registered_name"]: self._customer(values) for values in CUSTOMERS}
            logins = self._people(customers)
            self._services(customers, start)
            logins += self._staff()
            self._correspondence(customers)
            self._storage_access()
            self._billing(customers, start)
            self._overdue_question(customers["Tom Okafor"])
            self._stranger()
            self._privacy_request(customers["Ellen Marsh"])
        self._report(logins)

    # -- rows ------------------------------------------------------------------

    def _provider(self) -> None:
        if ProviderDetails.current() is None:
            _create(ProviderDetails, **PROVIDER)
            self.created += 1

    def _policies(self, start: dt.date) -> None:
        """Version 1 of the privacy policy and the terms, in force from the start of the story
        (not a material change: nobody is asked to acknowledge it)."""
        for document, body in POLICIES.items():
            if not PolicyVersion.objects.filter(document=document).exists():
                policies.publish_version(document, body, start, False, "", actor=DEMO)
                self.created += 1

    def _customer(self, values: dict) -> Customer:
        customer = Customer.objects.filter(registered_name=values["registered_name"]).first()
        if customer is None:
            customer = _create(Customer, **values)
            self.created += 1
        return customer

    def _user(self, email: str, full_name: str, **extra) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, DEMO_PASSWORD, full_name=full_name, **extra)
            self.created += 1
        # allauth's mandatory verification: the demo people have confirmed their address.
        _, made = EmailAddress.objects.get_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        self.created += made
        return user

    def _people(self, customers: dict[str, Customer]) -> list[Login]:
        logins = []
        for email, full_name, memberships in PEOPLE:
            user = self._user(email, full_name)
            for customer_name, role in memberships:
                _, made = Membership.objects.get_or_create(
                    user=user, customer=customers[customer_name], defaults={"role": role}
                )
                self.created += made
            rows = [
                (f"{roles.Role(role).label}, {customers[name].display_name}", ROLE_SEES[role])
                for name, role in memberships
            ]
            if len(rows) > 1:
                rows.append(("", "(two customers: the switcher shows)"))
            logins.append(Login(email, rows))
        return logins

    def _services(self, customers: dict[str, Customer], start: dt.date) -> None:
        for customer_name, name, kind, platform, networks in SERVICES:
            customer = customers[customer_name]
            service = Service.objects.filter(customer=customer, name=name).first()
            if service is None:
                service = _create(Service, customer=customer, name=name, kind=kind, platform=platform, started_on=start)
                self.created += 1
            for network in networks:
                # Stored in canonical form (192.0.2.10 is kept as 192.0.2.10/32).
                if not service.ip_assignments.filter(network=str(ipaddress.ip_network(network))).exists():
                    _create(IPAssignment, service=service, network=network)
                    self.created += 1

    def _staff(self) -> list[Login]:
        admin = self._user(STAFF_EMAIL, "Nadia Northwind (demo staff)", is_staff=True, is_superuser=True)
        accountant = self._user(ACCOUNTANT_EMAIL, "Priya Ledger (demo accountant)")
        group = Group.objects.filter(name=roles.ACCOUNTANT_GROUP).first()
        if group is None:
            raise CommandError(f"The {roles.ACCOUNTANT_GROUP!r} group is missing: run `manage.py migrate` first.")
        accountant.groups.add(group)
        # The accountant works for the provider's demo firm of accountants.
        firm, made = AccountingFirm.objects.get_or_create(
            name="Ledgerline Accounts LLP",
            defaults={
                "postal_address": "4 Counting House Yard\nLeeds\nLS1 4AB",
                "contact_email": "books@ledgerline-accounts.example",
                "engaged_from": dt.date(2020, 4, 1),
            },
        )
        self.created += made
        if not Accountant.objects.filter(user=accountant).exists():
            Accountant.objects.create(user=accountant, firm=firm)
            self.created += 1
        # Staff and accountants must use MFA; give them an authenticator up front so a
        # tester can log in with the printed secret instead of enrolling first.
        for user in (admin, accountant):
            if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
                TOTP.activate(user, DEMO_TOTP_SECRET)
                self.created += 1
        return [
            Login(STAFF_EMAIL, [("Staff, superuser [MFA]", "the admin at /admin/")]),
            Login(ACCOUNTANT_EMAIL, [("Accountant [MFA]", "the accountants' area, /accounting/, only")]),
        ]

    def _correspondence(self, customers: dict[str, Customer]) -> None:
        """A short thread per customer so the Correspondence page has something to show.

        Through the real gateway and inbound archive (idempotency keys and content
        hashes make a rerun store nothing twice). Delivery goes to the local outbox.
        """

        for customer in customers.values():
            key = f"demo:welcome:{customer.pk}"
            if Message.objects.filter(idempotency_key=key).exists():
                continue
            welcome = gateway.send_mail(
                kind=MailKind.SERVICE,
                template="staff_reply",
                customer=customer,
                idempotency_key=key,
                context={
                    "subject": "Welcome to Northwind Hosting",
                    "body": "Your services are ready. Reply to this email, or write to us from the portal, "
                    "whenever you need us.",
                },
            )
            self.created += 1
            self._mail_in(
                sender=_owner(customer).user.email,
                to=welcome.from_address,
                subject=f"Re: {welcome.subject}",
                message_id=f"demo-reply-{customer.pk}@demo.example",
                in_reply_to=welcome.message_id,
                body="Thank you! Do you also back up our servers?",
            )

    def _mail_in(
        self, *, sender: str, to: str, subject: str, message_id: str, body: str, in_reply_to: str = ""
    ) -> None:
        """An email to us, through the inbound archive as if it had arrived; once."""
        if Message.objects.filter(message_id=message_id).exists():
            return
        headers = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n"
        if in_reply_to:
            headers += f"In-Reply-To: <{in_reply_to}>\r\n"
        raw = f"{headers}\r\n{body}\r\n"
        inbound.receive(raw.encode(), source="demo")
        self.created += 1

    def _storage_access(self) -> None:
        """Our request to look at a virtual server, waiting for the customer's answer, so
        the Storage access page has something to approve (through the real service)."""
        service = Service.objects.filter(name="bt-web-01").first()
        if service is None or StorageGrant.objects.filter(service=service).exists():
            return
        start = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(hours=1)
        staff = User.objects.get(email=STAFF_EMAIL)
        storage_access.ask_customer(
            service=service,
            staff=[staff],
            purpose="Check why the nightly backup of /var/lib/postgresql has failed three times this week.",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=4),
            actor=staff,
        )
        self.created += 1

    def _billing(self, customers: dict[str, Customer], start: dt.date) -> None:
        """Plans, a subscription per service from the day the service began, each month's
        invoice since (through the real billing run on each past billing day, so documents
        carry the day they were billed, PDFs are rendered and emails go to the local outbox),
        and the paying customers' payments ten days after each invoice."""
        policy = BillingSettings.current()
        if not any(getattr(policy, field) for field in BANK_DETAILS):  # a tester's own details stay
            for field, value in BANK_DETAILS.items():
                setattr(policy, field, value)
            policy.full_clean()
            policy.save()
            self.created += 1
        plans = {}
        for name, period, price, setup_fee in PLANS:
            product = Product.objects.filter(name=name).first()
            if product is None:
                product = _create(Product, name=name)
                self.created += 1
            plan = Plan.objects.filter(name=name, period=period).first()
            if plan is None:
                plan = _create(Plan, product=product, name=name, period=period, price=price, setup_fee=setup_fee)
                self.created += 1
            plans.setdefault(name, plan)  # subscriptions are on the first (monthly or quarterly) price
        for name, terms in USAGE_TERMS.items():
            if not UsageTerms.objects.filter(plan=plans[name]).exists():
                _create(UsageTerms, plan=plans[name], **terms)
                self.created += 1
        for service in Service.objects.filter(customer__in=customers.values(), name__in=SUBSCRIPTIONS):
            if not service.subscriptions.exists():
                # Billed from the day the service began: never for days before it.
                start_subscription(service, plans[SUBSCRIPTIONS[service.name]], on=service.started_on, actor=DEMO)
                self.created += 1
            self._usage(service, start)
        today = timezone.localdate()
        policy = BillingSettings.current()
        period = start
        while (billing_day := day_in_month(period, policy.billing_day)) <= today:
            for customer in customers.values():
                if not Invoice.objects.filter(customer=customer, period_start=period).exists():
                    run = run_billing(period, customer=customer, actor=DEMO, issued_on=billing_day)
                    if run.status == BillingRun.Status.FAILED:
                        raise CommandError(f"The demo billing run for {period:%B %Y} failed: {run.error}")
                    self.created += run.created
            paid_on = billing_day + dt.timedelta(days=PAID_AFTER_DAYS)
            if paid_on <= today:  # a payment is never recorded before the money arrives
                for name in PAYING_CUSTOMERS:
                    self._pay(customers[name], period, on=paid_on)
            period = add_months(period, 1)

    def _pay(self, customer: Customer, period: dt.date, *, on: dt.date) -> None:
        """The customer pays the period's invoice in full by bank transfer, once."""
        invoice = Invoice.objects.filter(customer=customer, period_start=period, kind=Invoice.Kind.INVOICE).first()
        if invoice is None:
            return
        reference = f"Demo bank transfer for {invoice.number}"
        if not Payment.objects.filter(customer=customer, reference=reference).exists():
            receive_payment(
                customer,
                amount=invoice.total_gross,
                received_on=on,
                method=Payment.Method.BANK_TRANSFER,
                reference=reference,
                allocate_to=[(invoice, invoice.total_gross)],
                actor=DEMO,
            )
            self.created += 1

    def _overdue_question(self, customer: Customer) -> None:
        """The customer with an overdue invoice writes to the billing address about it; no
        one has answered yet (the billing team's "waiting for an answer" queue)."""
        overdue = (
            Invoice.objects.with_balance()
            .filter(customer=customer, balance__gt=0, due_on__lt=timezone.localdate())
            .order_by("issued_on", "pk")
            .first()
        )
        if overdue is not None:
            self._mail_in(
                sender=_owner(customer).user.email,
                to=ProviderDetails.current().billing_email,
                subject=f"Invoice {overdue.number}",
                message_id=f"demo-overdue-{customer.pk}@demo.example",
                body=f"Sorry, I missed invoice {overdue.number} while I was away. Can I pay it together with the "
                "next one at the end of the month?",
            )

    def _stranger(self) -> None:
        """Mail from someone who is no customer's contact: kept aside for staff to assign or reject."""
        self._mail_in(
            sender="Sam Example <sam@newcomer.example>",
            to=ProviderDetails.current().support_email,
            subject="Moving our shop to you",
            message_id="demo-stranger@demo.example",
            body="Hello, we run a small web shop and would like to move it to a VPS with you. Who should I talk to?",
        )

    def _privacy_request(self, customer: Customer) -> None:
        """The owner asks for a copy of her personal data in the privacy centre: the request
        is open, its clock running (the privacy team's queue, by days left)."""
        membership = _owner(customer)
        if DataSubjectRequest.objects.filter(requester_email=membership.user.email).exists():
            return
        privacy_requests.open_request_from_portal(
            membership,
            DataSubjectRequest.Kind.ACCESS,
            "Please send me a copy of the personal data you hold about me, as I am reviewing my suppliers.",
        )
        self.created += 1

    def _usage(self, service: Service, first_day) -> None:
        """Five-minute samples from ``first_day`` to the start of today (UTC) for a service on
        a plan that bills bandwidth: a daily rhythm, busier by day, with a few bursts. Added
        once: samples already there are kept (one per interval)."""
        if not service.subscriptions.filter(plan__usage_terms__isnull=False).exists():
            return
        base_mbps = DEMO_USAGE_MBPS.get(service.name, 5)
        start = dt.datetime.combine(first_day, dt.time(), tzinfo=dt.UTC)
        end = dt.datetime.combine(timezone.now().astimezone(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)
        samples = []
        for slot in range(int((end - start).total_seconds()) // 300):
            moment = start + dt.timedelta(minutes=5 * slot)
            hours = moment.hour + moment.minute / 60
            rhythm = 1 + 0.8 * math.sin(2 * math.pi * (hours - 9) / 24)
            burst = 3 if (slot * 7919 + service.pk) % 211 == 0 else 1
            out_mbps = base_mbps * rhythm * burst
            samples.append(
                UsageSample(
                    service=service,
                    interval_start=moment,
                    bytes_in=int(out_mbps * 0.3 * 37_500_000),
                    bytes_out=int(out_mbps * 37_500_000),
                )
            )
        UsageSample.objects.bulk_create(samples, batch_size=2000, ignore_conflicts=True)

    # -- output ----------------------------------------------------------------

    def _report(self, logins: list[Login]) -> None:
        out = self.stdout
        if self.created:
            out.write(self.style.SUCCESS(f"Demo data loaded ({self.created} rows created)."))
        else:
            out.write(self.style.SUCCESS("Demo data already present; nothing changed."))
        out.write("")
        out.write(f"Demo logins (password for all: {DEMO_PASSWORD})")
        width = max(len(login.email) for login in logins)
        role_width = max(len(role) for login in logins for role, _ in login.rows)
        sees_width = max(len(sees) for login in logins for _, sees in login.rows)
        out.write(f"  {'Email':<{width}}  {'Role':<{role_width}}  What they see")
        out.write(f"  {'-' * width}  {'-' * role_width}  {'-' * sees_width}")
        for login in logins:
            for number, (role, sees) in enumerate(login.rows):
                email = login.email if number == 0 else ""
                out.write(f"  {email:<{width}}  {role:<{role_width}}  {sees}".rstrip())
        counter = int(time.time()) // mfa_settings.TOTP_PERIOD
        code = format_hotp_value(hotp_value(DEMO_TOTP_SECRET, counter))
        issuer = settings.MFA_TOTP_ISSUER.replace(" ", "%20")
        out.write("")
        out.write("[MFA] Staff and accountants enter an authenticator code after the password.")
        out.write(f"  TOTP secret (add it to an authenticator app): {DEMO_TOTP_SECRET}")
        out.write(f"  otpauth://totp/{issuer}:demo?secret={DEMO_TOTP_SECRET}&issuer={issuer}")
        out.write(f"  Code right now: {code} (changes every {mfa_settings.TOTP_PERIOD} s)")
        out.write("")
        out.write("These logins are public: never load demo data into a production portal.")
