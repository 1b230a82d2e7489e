"""The demo book's renewal terms: on its active fixed-term subscriptions, seeded once."""

import pytest

from contracts.demo import demo_book_seed
from contracts.models import Contract, RenewalTerms

pytestmark = pytest.mark.django_db


def test_the_demo_book_has_renewal_terms_and_a_second_seed_changes_none():
    demo_book_seed()
    first = list(RenewalTerms.objects.order_by("contract__number").values())
    demo_book_seed()

    assert list(RenewalTerms.objects.order_by("contract__number").values()) == first
    terms = RenewalTerms.objects.select_related("contract")
    assert terms.count() >= 10
    assert all(t.contract.status == Contract.Status.ACTIVE for t in terms)
    assert not any(t.contract.evergreen for t in terms)
    assert terms.filter(auto_renew=True).exists() and terms.filter(auto_renew=False).exists()
    [declined] = terms.filter(decision=RenewalTerms.Decision.NOT_RENEWING)
    assert declined.decision_reason and declined.decided_by
    assert len({t.uplift_percent for t in terms}) > 1
