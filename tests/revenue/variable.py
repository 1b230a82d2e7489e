"""What the variable consideration tests share: amounts, scenarios, and a clock past 2026."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from djmoney.money import Money

from revenue.domain.variable_consideration import Scenario


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def scenarios(*pairs: tuple[str, str], currency: str = "USD") -> list[Scenario]:
    """Return scenarios from (amount, probability) pairs: ("12000", "0.5")."""
    return [
        Scenario(amount=Money(Decimal(amount), currency), probability=Decimal(p))
        for amount, p in pairs
    ]


@pytest.fixture(autouse=True)
def after_the_year():
    """Every month of 2026 has ended, so any of them can be closed."""
    with time_machine.travel(datetime(2027, 2, 1, 12, tzinfo=UTC), tick=False):
        yield
