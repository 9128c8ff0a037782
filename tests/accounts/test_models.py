from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import Customer, IPAssignment, LegalForm, Service, _address_key
from accounts.vat import normalise_vat_number
from tests.accounts.factories import CustomerFactory, IPAssignmentFactory, ServiceFactory


@pytest.mark.parametrize(
    ("given_number", "country", "expected"),
    [
        ("GB 980 7806 84", "GB", "GB980780684"),
        ("980780684", "GB", "GB980780684"),
        ("gb980780684", "FR", "GB980780684"),
        ("XI980780684", "GB", "XI980780684"),
        ("DE 136 695 976", "DE", "DE136695976"),
        ("136695976", "DE", "DE136695976"),
        ("IE 6388047V", "IE", "IE6388047V"),
    ],
)
def test_valid_gb_and_eu_vat_numbers_are_normalised(given_number, country, expected):
    assert normalise_vat_number(given_number, country=country) == expected


@pytest.mark.parametrize(
    ("given_number", "problem"),
    [
        ("GB980780685", "check digits are wrong"),
        ("GB98078068", "wrong number of characters"),
        ("DE13669597", "wrong number of characters"),
        ("US123456789", "not a UK or EU VAT prefix"),
        ("GBABCDEFGHI", "not in the GB format"),
    ],
)
def test_invalid_vat_numbers_name_the_problem(given_number, problem):
    with pytest.raises(ValidationError, match=problem):
        normalise_vat_number(given_number)


@given(st.text(max_size=30))
def test_vat_validation_never_crashes_on_arbitrary_input(text):
    try:
        result = normalise_vat_number(text)
    except ValidationError as exc:
        assert exc.messages[0].startswith(repr(text))
    else:
        assert result[:2].isalpha()


@pytest.mark.django_db
def test_customer_clean_normalises_vat_and_requires_company_number_for_companies():
    customer = CustomerFactory.build(legal_form=LegalForm.LIMITED_COMPANY, company_number="", vat_number="980 7806 84")
    with pytest.raises(ValidationError) as excinfo:
        customer.full_clean()
    assert "company_number" in excinfo.value.message_dict
    customer.company_number = "01234567"
    customer.full_clean()
    assert customer.vat_number == "GB980780684"


@pytest.mark.django_db
def test_sole_trader_needs_no_company_number_and_address_lines_skip_blanks():
    customer = CustomerFactory.build(
        legal_form=LegalForm.SOLE_TRADER,
        company_number="",
        address_line1="2 High St",
        address_line2="",
        town="Lyon",
        postcode="69002",  # a French postcode: a UK one in France is refused now
        country="FR",
    )
    customer.full_clean()
    assert customer.postal_address_lines() == ["2 High St", "69002 Lyon", "France"]  # as the French post writes it
    assert customer.is_business
    assert not CustomerFactory.build(legal_form=LegalForm.INDIVIDUAL).is_business


@pytest.mark.django_db
def test_closing_a_customer_records_when():
    customer = CustomerFactory()
    customer.status = Customer.Status.CLOSED
    customer.full_clean()
    assert customer.closed_at is not None


@pytest.mark.django_db
def test_service_platform_must_match_its_kind():
    service = ServiceFactory.build(
        kind=Service.Kind.DEDICATED, platform=Service.Platform.VIRTUAL, customer=CustomerFactory()
    )
    with pytest.raises(ValidationError, match="physical platform"):
        service.full_clean()


@pytest.mark.django_db
def test_ip_assignments_may_not_overlap_across_customers():
    IPAssignmentFactory(network="198.51.100.0/29")
    other = ServiceFactory()
    clash = IPAssignment(service=other, network="198.51.100.4")
    with pytest.raises(ValidationError, match=r"198\.51\.100\.4/32 overlaps 198\.51\.100\.0/29"):
        clash.full_clean()
    IPAssignment(service=other, network="198.51.100.8/29").full_clean()


@pytest.mark.django_db
def test_released_assignments_do_not_block_reuse_and_lookup_is_by_address():
    old = IPAssignmentFactory(network="2001:db8::/48", released_on=dt.date(2025, 1, 1))
    IPAssignment(service=ServiceFactory(), network="2001:db8:0:1::/64").full_clean()
    assert list(IPAssignment.objects.containing("2001:db8::1")) == [old]
    assert not IPAssignment.objects.current().containing("2001:db8::1").exists()


@pytest.mark.django_db
def test_network_with_host_bits_is_rejected_with_a_suggestion():
    assignment = IPAssignment(service=ServiceFactory(), network="198.51.100.7/29")
    with pytest.raises(ValidationError, match=r"did you mean 198\.51\.100\.0/29"):
        assignment.full_clean()
    with pytest.raises(ValidationError, match="Not an IP address"):
        IPAssignment(service=ServiceFactory(), network="not-an-ip").full_clean()


@given(st.ip_addresses(), st.ip_addresses())
def test_address_keys_sort_like_addresses_across_families(a, b):
    def as_int(x):
        return int(ipaddress.IPv6Address(f"::ffff:{x}")) if x.version == 4 else int(x)

    assert (_address_key(a) < _address_key(b)) == (as_int(a) < as_int(b))
