"""The product catalog: one row per product.

A product is found by its ``sku``; a row updates the product it finds and creates the one it
does not. Each row is checked as the admin's form checks a product. The standalone selling
price is ``ssp`` in ``ssp_currency``: a contract in another currency needs an SSP override on
its line. An empty ``tax_rate`` means the customer's rate applies; an empty ``active`` or
``unit_of_measure`` keeps what a stored product has (a new one is active, sold by the ``unit``).
Products are never deleted by an import: mark one ``active`` false to stop selling it.
"""

from collections.abc import Iterator

from django.db import models

from contracts.models import BillingModel, Product, RevenuePolicy
from contracts.validation import row_errors
from imports import cells
from imports.engine import Column, Layout, Row
from imports.objects import Changes, assign, by, cell, changed_fields, money, snapshot
from rms.money import CURRENCY_CODES

# Columns read into the field of the same name (ssp and its currency are read together).
PRODUCT_FIELDS = (
    "name",
    "description",
    "unit_of_measure",
    "tax_rate",
    "default_billing_model",
    "revenue_policy",
    "active",
)
COLUMN_OF_PRODUCT = {
    "sku": "sku",
    "ssp": "ssp",
    "ssp_currency": "ssp_currency",
    **{name: name for name in PRODUCT_FIELDS},
}
# A description is free text; this bounds a cell pasted by mistake, not a real one.
DESCRIPTION_MAX_LENGTH = 10_000


class ProductsLayout(Layout):
    name = "products"
    title = "Products (the catalog)"
    model = Product
    key = ("sku",)
    columns = (
        Column("sku", cells.text(64), required=True, help="The product's SKU, its code."),
        Column("name", cells.text(255), required=True),
        Column("description", cells.text(DESCRIPTION_MAX_LENGTH)),
        Column(
            "ssp",
            cells.decimal(not_negative=True),
            required=True,
            help="Standalone selling price per unit (drives the revenue allocation).",
        ),
        Column(
            "ssp_currency",
            cells.currency(CURRENCY_CODES),
            required=True,
            help="The SSP's currency, e.g. USD.",
        ),
        Column("unit_of_measure", cells.text(32), help="e.g. seat, hour; empty on a new: unit."),
        Column(
            "tax_rate",
            cells.decimal(not_negative=True),
            help="Percent; empty: the customer's rate applies.",
        ),
        Column(
            "default_billing_model",
            cells.choice(BillingModel.values),
            required=True,
            help="subscription, usage, one_time or milestone: a new line's default.",
        ),
        Column(
            "revenue_policy",
            cells.choice(RevenuePolicy.values),
            required=True,
            help="How revenue is recognized, e.g. ratable, point_in_time.",
        ),
        Column("active", cells.boolean, help="false to stop selling it; empty on a new one: true."),
    )

    # --- Import ------------------------------------------------------------------------

    def write(self, rows: list[Row]) -> None:
        stored = by(Product.objects.filter(sku__in={r.values["sku"] for r in rows}), "sku")
        changes = Changes()
        for row in rows:
            sku = row.values["sku"]
            product = stored.get(sku)
            new = product is None
            product = product or Product(sku=sku)
            before = snapshot(product)
            for name in PRODUCT_FIELDS:
                if row.present(name):
                    assign(product, name, row.values[name], new=new)
            product.ssp = money(row.values["ssp"], row.values["ssp_currency"])
            row.refuse_all(row_errors(product, unique=False), COLUMN_OF_PRODUCT)
            if row.errors:
                continue
            changes.add(product, row, new=new, changed=changed_fields(product, before))
            row.status = changes.status_of(row)
        changes.write(Product)

    # --- Export ------------------------------------------------------------------------

    def export_rows(self, queryset: models.QuerySet) -> Iterator[dict[str, str]]:
        for product in queryset.order_by("sku").iterator(chunk_size=500):
            yield {
                "sku": product.sku,
                "ssp": cell(product.ssp),
                "ssp_currency": product.ssp.currency.code,
                **{name: cell(getattr(product, name)) for name in PRODUCT_FIELDS},
            }
