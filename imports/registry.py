"""The CSV layouts by name, as commands, jobs and admin pages refer to them."""

from django.utils.module_loading import import_string

from imports.engine import Layout

LAYOUTS = {
    "customers": "contracts.imports.customers.CustomersLayout",
    "products": "contracts.imports.products.ProductsLayout",
    "contracts": "contracts.imports.contracts.ContractsLayout",
    "milestones": "contracts.imports.milestones.MilestonesLayout",
    "usage": "billing.imports.usage.UsageLayout",
    "payments": "billing.imports.payments.PaymentsLayout",
}


def layout_class(name: str) -> type[Layout]:
    """Return the layout called ``name``; a ``KeyError`` names the layouts there are."""
    if name not in LAYOUTS:
        raise KeyError(f"No CSV layout {name!r}; the layouts are {', '.join(LAYOUTS)}.")
    return import_string(LAYOUTS[name])
