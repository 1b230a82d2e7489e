"""Template filters of the worklists."""

from django import template
from djmoney.money import Money

from rms.money import money_text as _money_text

register = template.Library()


@register.filter
def money_text(amount: Money | None) -> str:
    """Write an amount as messages do ("1,200.00 USD"); a dash for none."""
    return "—" if amount is None else _money_text(amount)
