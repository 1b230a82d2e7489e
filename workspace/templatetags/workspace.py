"""Template filters of the workspace pages."""

from django import template
from djmoney.money import Money

from revenue.pages.shared import figure as money_figure

register = template.Library()


@register.filter
def figure(amount: Money | None) -> str:
    """Format an amount as the finance tables do (``revenue.pages.shared.figure``): grouped, on
    the currency's minor unit, no symbol; "—" for no amount."""
    return "—" if amount is None else money_figure(amount)
