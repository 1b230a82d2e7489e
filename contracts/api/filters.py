"""Query filters of the contracts API lists (django-filter), documented in the schema."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django_filters import rest_framework as filters

from contracts.models import (
    BillingContact,
    BillingModel,
    Contract,
    ContractLine,
    Customer,
    Product,
    RevenuePolicy,
)
from rms.api import IdFilter


def _exists(queryset: QuerySet, value: bool, subquery: QuerySet) -> QuerySet:
    """Keep the rows for which ``subquery`` finds something (value true) or nothing (false).

    A subquery rather than a join, so that no row repeats and no DISTINCT is needed.
    """
    return queryset.filter(Exists(subquery)) if value else queryset.exclude(Exists(subquery))


class CustomerFilter(filters.FilterSet):
    name = filters.CharFilter(
        field_name="legal_name", lookup_expr="icontains", help_text="Part of the legal name."
    )
    search = filters.CharFilter(
        method="filter_search",
        help_text="Part of the account number, legal name, tax ID or a billing contact's email.",
    )
    currency = filters.CharFilter(help_text="ISO 4217 code of the default currency.")
    payment_terms = filters.CharFilter(
        field_name="payment_terms__name", help_text="Payment terms by name, e.g. Net 30."
    )
    on_hold = filters.BooleanFilter(
        method="filter_on_hold", help_text="true: a billing or delivery hold; false: neither."
    )
    has_active_contracts = filters.BooleanFilter(
        method="filter_has_active_contracts",
        help_text="true: customers with at least one active contract; false: the others.",
    )

    class Meta:
        model = Customer
        fields = ["number", "currency", "delivery_method", "billing_hold", "delivery_hold"]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        contact = BillingContact.objects.filter(customer=OuterRef("pk"), email__icontains=value)
        return queryset.filter(
            Q(number__icontains=value)
            | Q(legal_name__icontains=value)
            | Q(tax_id__icontains=value)
            | Q(Exists(contact))
        )

    def filter_on_hold(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        held = Q(billing_hold=True) | Q(delivery_hold=True)
        return queryset.filter(held) if value else queryset.exclude(held)

    def filter_has_active_contracts(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        active = Contract.objects.filter(customer=OuterRef("pk"), status=Contract.Status.ACTIVE)
        return _exists(queryset, value, active)


class ProductFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains", help_text="Part of the name.")
    currency = filters.CharFilter(field_name="ssp_currency", help_text="ISO 4217 code of the SSP.")
    default_billing_model = filters.ChoiceFilter(choices=BillingModel.choices)
    revenue_policy = filters.ChoiceFilter(choices=RevenuePolicy.choices)

    class Meta:
        model = Product
        fields = ["sku", "name", "currency", "default_billing_model", "revenue_policy", "active"]


class ContractFilter(filters.FilterSet):
    customer_number = filters.CharFilter(
        field_name="customer__number", help_text="The customer's account number."
    )
    status = filters.MultipleChoiceFilter(
        choices=Contract.Status.choices, help_text="One or more, e.g. ?status=draft&status=active."
    )
    currency = filters.CharFilter(help_text="ISO 4217 code.")
    start_date = filters.DateFromToRangeFilter(
        help_text="From start_date_after to start_date_before, both included (YYYY-MM-DD)."
    )
    end_date = filters.DateFromToRangeFilter(
        help_text="From end_date_after to end_date_before, both included (YYYY-MM-DD); "
        "evergreen contracts have no end date."
    )
    signed_date = filters.DateFromToRangeFilter(
        help_text="From signed_date_after to signed_date_before, both included (YYYY-MM-DD)."
    )
    product = IdFilter(
        method="filter_product", help_text="Product id: contracts with a line of it."
    )
    billing_model = filters.ChoiceFilter(
        choices=BillingModel.choices,
        method="filter_billing_model",
        help_text="Contracts with a line billed this way.",
    )

    class Meta:
        model = Contract
        fields = [
            "number",
            "customer",
            "customer_number",
            "status",
            "currency",
            "evergreen",
            "billing_hold",
            "delivery_hold",
            "start_date",
            "end_date",
            "signed_date",
        ]

    def filter_product(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        lines = ContractLine.objects.filter(contract=OuterRef("pk"), product_id=value)
        return _exists(queryset, True, lines)

    def filter_billing_model(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        lines = ContractLine.objects.filter(contract=OuterRef("pk"), billing_model=value)
        return _exists(queryset, True, lines)
