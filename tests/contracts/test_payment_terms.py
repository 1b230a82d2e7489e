"""Due dates: what a customer's payment terms make of an invoice's issue date."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from hypothesis import given
from hypothesis import strategies as st

from contracts.domain.payment_terms import TermsBasis, describe, due_date, end_of_month
from contracts.models import PaymentTerms


@pytest.mark.parametrize(
    ("issued", "basis", "days", "due"),
    [
        (date(2026, 3, 10), TermsBasis.NET, 30, date(2026, 4, 9)),
        (date(2026, 12, 15), TermsBasis.NET, 45, date(2027, 1, 29)),
        (date(2026, 3, 10), TermsBasis.DUE_ON_RECEIPT, 0, date(2026, 3, 10)),
        (date(2026, 3, 10), TermsBasis.END_OF_MONTH, 15, date(2026, 4, 15)),
        (date(2028, 2, 3), TermsBasis.END_OF_MONTH, 0, date(2028, 2, 29)),  # leap year
        (date(2027, 2, 28), TermsBasis.END_OF_MONTH, 1, date(2027, 3, 1)),
        (date(2026, 12, 31), TermsBasis.END_OF_MONTH, 30, date(2027, 1, 30)),
    ],
)
def test_due_date_hand_worked(issued, basis, days, due):
    assert due_date(issue_date=issued, basis=basis, days=days) == due


def test_due_date_refuses_impossible_terms():
    with pytest.raises(ValueError, match="negative"):
        due_date(issue_date=date(2026, 1, 1), basis=TermsBasis.NET, days=-1)
    with pytest.raises(ValueError, match="take no days"):
        due_date(issue_date=date(2026, 1, 1), basis=TermsBasis.DUE_ON_RECEIPT, days=5)


@pytest.mark.parametrize(
    ("basis", "days", "words"),
    [
        (TermsBasis.NET, 30, "Net 30"),
        (TermsBasis.DUE_ON_RECEIPT, 0, "Due on receipt"),
        (TermsBasis.END_OF_MONTH, 15, "End of month + 15 days"),
        (TermsBasis.END_OF_MONTH, 0, "End of month"),
    ],
)
def test_terms_in_words(basis, days, words):
    assert describe(basis=basis, days=days) == words


issue_dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@given(issued=issue_dates, days=st.integers(min_value=0, max_value=365))
def test_net_terms_count_calendar_days(issued, days):
    assert (due_date(issue_date=issued, basis=TermsBasis.NET, days=days) - issued).days == days


@given(issued=issue_dates, days=st.integers(min_value=0, max_value=365))
def test_end_of_month_terms_count_from_the_last_day_of_the_issue_month(issued, days):
    due = due_date(issue_date=issued, basis=TermsBasis.END_OF_MONTH, days=days)
    month_end = due - timedelta(days=days)
    assert (month_end.year, month_end.month) == (issued.year, issued.month)
    assert (month_end + timedelta(days=1)).day == 1
    assert due >= issued
    assert month_end == end_of_month(issued)


@pytest.mark.django_db
def test_payment_terms_row_gives_due_date_and_words():
    terms = PaymentTerms.objects.create(name="EOM 15", basis="end_of_month", days=15)
    assert terms.due_date(date(2026, 3, 10)) == date(2026, 4, 15)
    assert terms.description == "End of month + 15 days"


@pytest.mark.django_db
def test_due_on_receipt_with_days_is_refused_by_form_validation_and_database():
    terms = PaymentTerms(name="Odd", basis="due_on_receipt", days=10)
    with pytest.raises(ValidationError, match="take 0 days"):
        terms.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        terms.save()
