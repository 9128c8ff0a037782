from __future__ import annotations

import factory
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

from accounts import roles
from accounts.models import Customer, IPAssignment, LegalForm, Membership, ProviderDetails, Service, User

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    """A person with a verified primary email address, able to log in with PASSWORD."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    full_name = factory.Faker("name", locale="en_GB")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):
        if create and extracted is not False:
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class StaffFactory(UserFactory):
    is_staff = True


def enable_totp(user: User) -> str:
    """Give ``user`` a TOTP authenticator; returns its secret for computing codes."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    legal_form = LegalForm.LIMITED_COMPANY
    registered_name = factory.Sequence(lambda n: f"Example Widgets {n} Ltd")
    company_number = factory.Sequence(lambda n: f"{n:08d}")
    address_line1 = factory.Faker("street_address", locale="en_GB")
    town = factory.Faker("city", locale="en_GB")
    postcode = factory.Faker("postcode", locale="en_GB")
    country = "GB"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    customer = factory.SubFactory(CustomerFactory)
    role = roles.Role.OWNER


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"web-{n:02d}")
    kind = Service.Kind.VPS
    platform = Service.Platform.VIRTUAL


class IPAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IPAssignment

    service = factory.SubFactory(ServiceFactory)
    network = factory.Sequence(lambda n: f"198.51.{n // 256 % 256}.{n % 256}")


class ProviderDetailsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderDetails
        django_get_or_create = ("id",)

    id = 1
    registered_name = "Example Hosting Ltd"
    registered_in = "England and Wales"
    company_number = "01234567"
    registered_office = "1 Example Street\nExampletown\nEX1 1AA"
    vat_number = "GB980780684"
    support_email = "support@hosting.example"
    billing_email = "billing@hosting.example"
    abuse_email = "abuse@hosting.example"
    privacy_email = "privacy@hosting.example"
