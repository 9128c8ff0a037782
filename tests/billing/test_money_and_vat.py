from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import LegalForm
from billing.models import VatRate
from billing.money import format_money, to_money, vat_down
from billing.vat import REVERSE_CHARGE_WORDING, VatCategory, VatRuleError, decide_vat
from tests.accounts.factories import CustomerFactory

amounts = st.decimals(min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=4)


def test_money_is_never_a_float():
    with pytest.raises(TypeError, match="never a float"):
        to_money(0.1)


@given(amounts)
def test_rounding_stays_within_half_a_penny_and_vat_never_rounds_up(amount):
    assert abs(to_money(amount) - amount) <= Decimal("0.005")
    assert vat_down(abs(amount)) <= abs(amount) < vat_down(abs(amount)) + Decimal("0.01")


@given(st.lists(st.decimals(min_value=0, max_value=Decimal("99999"), places=2), max_size=30))
def test_totals_of_rounded_lines_are_exact(lines):
    assert sum((to_money(x) for x in lines), Decimal(0)) == sum(lines, Decimal(0))


def test_money_is_formatted_for_people():
    assert format_money(Decimal("1234.5")) == "£1,234.50"
    assert format_money(Decimal("-3"), "EUR") == "-€3.00"
    assert to_money("100", "JPY") == Decimal("100")


@pytest.mark.parametrize(
    ("on", "rate"),
    [
        (dt.date(2009, 6, 1), "15"),
        (dt.date(2010, 12, 31), "17.5"),
        (dt.date(2011, 1, 4), "20"),
        (dt.date(2026, 11, 22), "20"),
    ],
)
@pytest.mark.django_db
def test_uk_standard_rate_follows_the_dated_table(on, rate):
    assert VatRate.rate_on("GB", VatCategory.STANDARD, on) == Decimal(rate)


@pytest.mark.django_db
def test_uk_customer_pays_uk_vat():
    decision = decide_vat(CustomerFactory(country="GB"), tax_point=dt.date(2026, 11, 1), rates=VatRate.rate_on)
    assert (decision.rate, decision.rule, decision.wording) == (Decimal("20"), "uk_rate", "")


@pytest.mark.django_db
def test_overseas_business_with_vat_number_is_reverse_charged():
    customer = CustomerFactory(country="DE", vat_number="DE136695976", legal_form=LegalForm.LIMITED_COMPANY)
    decision = decide_vat(customer, tax_point=dt.date(2026, 11, 1), rates=VatRate.rate_on)
    assert decision.is_reverse_charge and decision.rate == 0
    assert decision.wording == REVERSE_CHARGE_WORDING


@pytest.mark.django_db
def test_overseas_consumer_pays_their_countrys_rate_from_the_table():
    consumer = CustomerFactory(country="FR", legal_form=LegalForm.INDIVIDUAL, company_number="")
    assert decide_vat(consumer, tax_point=dt.date(2026, 11, 1), rates=VatRate.rate_on).rate == Decimal("20")
    consumer.country = "NO"
    with pytest.raises(
        VatRuleError, match=r"No VAT rate is in force on 1 November 2026 for consumers in Norway \(NO\)"
    ):
        decide_vat(consumer, tax_point=dt.date(2026, 11, 1), rates=VatRate.rate_on)


@pytest.mark.django_db
def test_an_overseas_consumer_without_a_vat_number_pays_the_consumer_rate():
    customer = CustomerFactory(country="IE", vat_number="", legal_form=LegalForm.INDIVIDUAL, company_number="")
    decision = decide_vat(customer, tax_point=dt.date(2026, 11, 1), rates=VatRate.rate_on)
    assert (decision.rule, decision.rate) == ("consumer_country_rate", Decimal("23"))


def test_total_vat_is_rounded_down_once_and_shared_between_the_rates():
    from billing.money import split_vat

    # 20% of 0.07 = 0.014 and 5% of 0.19 = 0.0095: 0.0235 in all, so 0.02 (s.17.5), not 0.01.
    summary = split_vat([(Decimal("5"), Decimal("0.19")), (Decimal("20"), Decimal("0.07"))])
    assert summary == [
        (Decimal("20"), Decimal("0.07"), Decimal("0.01")),
        (Decimal("5"), Decimal("0.19"), Decimal("0.01")),
    ]
    # One rate: plain rounding down.
    assert split_vat([(Decimal("20"), Decimal("10.99"))]) == [(Decimal("20"), Decimal("10.99"), Decimal("2.19"))]
