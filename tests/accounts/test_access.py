"""The access sweep: another customer's objects answer 404, never 403 and never data.

Every URL in the customer-facing namespaces that takes an object id is found by walking
the URL resolver, so a new page is swept as soon as it is added. A new kind of id with no
fixture below fails the sweep until one is added.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts import roles, services
from accounts.audit import System
from accounts.models import Customer, Invitation, Membership, Service
from tests.accounts.factories import CustomerFactory, IPAssignmentFactory, MembershipFactory, ServiceFactory

CUSTOMER_NAMESPACES = {"accounts", "portal", "correspondence", "storage_access", "abuse"}
# Billing's pages answer a role without billing access 403 before looking anything up
# (tests/billing cover them); these billing pages look the object up in the contact's own
# customer first, so they are swept here too.
SWEPT_BILLING_URLS = {"dispute_new", "letter_reply", "letter_pdf"}


def _membership(customer: Customer) -> Membership:
    return MembershipFactory(customer=customer, role=roles.Role.TECHNICAL)


def _service(customer: Customer) -> Service:
    service = ServiceFactory(customer=customer)
    IPAssignmentFactory(service=service)
    return service


def _invitation(customer: Customer) -> Invitation:
    return services.invite_contact(
        customer,
        email="invitee@example.net",
        role=roles.Role.BILLING,
        actor=System("tests"),
        link_base="http://testserver/",
    )


def _message(customer: Customer):
    """One service message with one attachment per customer (both URL ids refer to it)."""
    from accounts.correspondence import gateway
    from accounts.correspondence.models import Message

    existing = Message.objects.filter(customer=customer, template="staff_reply").first()
    if existing:
        return existing
    MembershipFactory(customer=customer, role=roles.Role.TECHNICAL)
    return gateway.send_mail(
        kind="service",
        template="staff_reply",
        customer=customer,
        idempotency_key=f"sweep-{customer.pk}",
        context={"subject": f"Secret plans of {customer}", "body": "Confidential"},
        attachments=[gateway.Attachment("plan.txt", b"confidential", "text/plain")],
    )


def _attachment(customer: Customer):
    return _message(customer).attachments.get()


def _storage_grant(customer: Customer):
    """A request from staff waiting for the customer's answer (the page offers approve and decline)."""
    from tests.privacy.storage_helpers import asked_grant

    return asked_grant(customer)


def _abuse_case(customer: Customer):
    """One abuse case per customer, with a report, evidence shared with the customer and an answer's file."""
    from accounts.correspondence import gateway
    from privacy.abuse import cases
    from privacy.abuse.models import AbuseCase, AbuseEvidence, AbuseReport

    existing = AbuseCase.objects.filter(customer=customer).first()
    if existing:
        return existing
    service = _service(customer)
    case = AbuseCase.objects.create(customer=customer, service=service, category="messaging", type="spam")
    report = AbuseReport.objects.create(
        format="staff", status="matched", content_sha256="0" * 64, case=case, customer=customer, service=service
    )
    name, digest = gateway.store_file("abuse/evidence", "log.txt", f"evidence about {customer}".encode())
    AbuseEvidence.objects.create(
        report=report, content_type="text/plain", file=name, size=10, sha256=digest, shared_with_customer=True
    )
    member = MembershipFactory(customer=customer, role=roles.Role.TECHNICAL)
    cases.customer_answer(case, membership=member, text="Fixed", files=[("fix.txt", "text/plain", b"fixed")])
    return case


def _abuse_evidence(customer: Customer):
    return _abuse_case(customer).reports.get().evidence.get()


def _abuse_answer_file(customer: Customer):
    return _abuse_case(customer).entries.get(kind="customer_answer").files.get()


def _invoice(customer: Customer):
    """One issued invoice per customer, its PDF stored."""
    from billing.models import Invoice
    from tests.billing.factories import issued_invoice

    return Invoice.objects.filter(customer=customer).first() or issued_invoice(customer)


def _letter(customer: Customer):
    """A stored letter about the customer's invoice (its PDF is a stand-in: the pages only serve it)."""
    from accounts.correspondence.gateway import store_file
    from billing.collections.models import Letter

    invoice = _invoice(customer)
    name, digest = store_file("billing/letters", "letter.pdf", f"%PDF-1.4 letter to {customer.pk}".encode())
    letter = Letter.objects.create(
        customer=customer, kind=Letter.Kind.LETTER_OF_CLAIM, dated=invoice.issued_on, amount=invoice.total_gross,
        currency=invoice.currency, pdf=name, pdf_sha256=digest, created_by=MembershipFactory(customer=customer).user,
    )  # fmt: skip
    letter.invoices.set([invoice])
    return letter


# URL keyword → how to make an object of that kind belonging to a given customer.
OBJECT_FIXTURES: dict[str, Callable[[Customer], models.Model]] = {
    "membership_id": _membership,
    "service_id": _service,
    "invitation_id": _invitation,
    "message_id": _message,
    "attachment_id": _attachment,
    "grant_id": _storage_grant,
    "case_id": _abuse_case,
    "evidence_id": _abuse_evidence,
    "file_id": _abuse_answer_file,
    "invoice_id": _invoice,
    "letter_id": _letter,
}

# URLs whose arguments are not ids of a customer's objects, and why they are not swept.
NOT_OBJECT_URLS = {
    "accounts:accept_invitation": "takes a secret token, for people who are not contacts yet (test_contacts.py)",
}


def _walk(resolver: URLResolver, namespace: str | None = None) -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry, entry.namespace or namespace)
        elif entry.name and (
            namespace in CUSTOMER_NAMESPACES or (namespace == "billing" and entry.name in SWEPT_BILLING_URLS)
        ):
            yield f"{namespace}:{entry.name}", entry


def _kwargs_of(pattern: URLPattern) -> set[str]:
    return set(getattr(pattern.pattern, "converters", {})) | set(pattern.pattern.regex.groupindex)


def customer_urls_with_arguments() -> list[tuple[str, frozenset[str]]]:
    found = {name: frozenset(_kwargs_of(pattern)) for name, pattern in _walk(get_resolver())}
    return sorted((name, kwargs) for name, kwargs in found.items() if kwargs)


SWEPT = [(name, kwargs) for name, kwargs in customer_urls_with_arguments() if name not in NOT_OBJECT_URLS]


def test_the_sweep_finds_the_customer_urls():
    names = {name for name, _ in customer_urls_with_arguments()}

    assert {"accounts:service_detail", "accounts:remove_contact", "accounts:revoke_invitation"} <= names


def test_every_url_with_an_id_has_a_fixture():
    uncovered = {
        name: sorted(kwargs - set(OBJECT_FIXTURES)) for name, kwargs in SWEPT if not kwargs <= set(OBJECT_FIXTURES)
    }

    assert not uncovered, (
        f"URLs take ids the access sweep cannot make objects for: {uncovered}. "
        "Add a fixture to OBJECT_FIXTURES (or, if the argument is not an object id, to NOT_OBJECT_URLS)."
    )


def _objects_for(customer: Customer, kwargs: frozenset[str]) -> dict[str, models.Model]:
    return {kwarg: OBJECT_FIXTURES[kwarg](customer) for kwarg in kwargs}


def _state(objects: dict[str, models.Model]) -> list:
    return [type(obj).objects.filter(pk=obj.pk).values().first() for obj in objects.values()]


@pytest.mark.django_db
@pytest.mark.parametrize("stranger_role", list(roles.Role))
@pytest.mark.parametrize(("name", "kwargs"), SWEPT, ids=[name for name, _ in SWEPT])
def test_a_contact_of_another_customer_gets_404(provider, name, kwargs, stranger_role):
    victim = CustomerFactory()
    owner = MembershipFactory(customer=victim, role=roles.Role.OWNER).user
    objects = _objects_for(victim, kwargs)
    url = reverse(name, kwargs={kwarg: obj.pk for kwarg, obj in objects.items()})
    before = _state(objects)

    # The URL works for the customer's own owner, so a 404 below is about access, not a bad fixture.
    own = Client()
    own.force_login(owner)
    assert own.get(url).status_code == 200, f"{url} does not work for the customer's own owner"

    stranger = MembershipFactory(role=stranger_role).user
    client = Client()
    client.force_login(stranger)
    for method in (client.get, client.post):
        response = method(url, {"role": roles.Role.OWNER})
        assert response.status_code == 404, f"{method.__name__.upper()} {url} answered {response.status_code}"
        for obj in objects.values():
            assert str(obj) not in response.content.decode()
    assert _state(objects) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kwargs"), SWEPT, ids=[name for name, _ in SWEPT])
def test_a_person_with_no_customer_reaches_no_object(provider, user, name, kwargs):
    victim = CustomerFactory()
    objects = _objects_for(victim, kwargs)
    url = reverse(name, kwargs={kwarg: obj.pk for kwarg, obj in objects.items()})
    before = _state(objects)
    client = Client()
    client.force_login(user)

    for method in (client.get, client.post):
        response = method(url, follow=True)
        assert response.status_code in (200, 404)
        for obj in objects.values():
            assert str(obj) not in response.content.decode()
    assert _state(objects) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kwargs"), SWEPT, ids=[name for name, _ in SWEPT])
def test_anonymous_visitors_are_sent_to_log_in(db, name, kwargs):
    url = reverse(name, kwargs=dict.fromkeys(kwargs, 1))

    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
