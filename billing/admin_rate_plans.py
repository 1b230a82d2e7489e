"""Rate plans in the back office: a usage line's plan with its tiers, checked as one table.

Amounts are in the contract's currency, which the page shows beside the plan. The tier table is
validated as a whole with the rating's own rule (``tier_errors``), so an error names the tier to
fix, and a plan the rating could not use is never saved.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from billing.domain.rating import Tier, tier_errors
from billing.models import RatePlan, RateTier
from contracts.models import BillingModel, ContractLine

TIERED_KINDS = {RatePlan.Kind.VOLUME, RatePlan.Kind.GRADUATED}


class RateTierFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """Refuse a tier table the rating cannot use, or tiers on a plan that has none."""
        super().clean()
        if any(self.errors):
            return  # each tier's own field errors first
        kept = sorted(
            (
                form.cleaned_data
                for form in self.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE")
            ),
            key=lambda row: row["sequence"],
        )
        if self.instance.kind not in TIERED_KINDS:
            if kept:
                raise ValidationError("Only volume and graduated plans have tiers; remove them.")
            return
        tiers = [Tier(row["up_to"], row["unit_price"], row["flat_fee"]) for row in kept]
        errors = tier_errors(tiers)
        if errors:
            raise ValidationError(errors)


class RateTierInline(admin.TabularInline):
    model = RateTier
    formset = RateTierFormSet
    fields = ["sequence", "up_to", "unit_price", "flat_fee"]
    extra = 0
    ordering = ["sequence"]


class RatePlanForm(forms.ModelForm):
    class Meta:
        model = RatePlan
        fields = [
            "line",
            "kind",
            "unit_price",
            "package_size",
            "package_price",
            "included_quantity",
            "base_fee",
            "minimum_charge",
            "maximum_charge",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "line" in self.fields:
            # Only usage lines are rated; their labels name the contract and product.
            self.fields["line"].queryset = ContractLine.objects.filter(
                billing_model=BillingModel.USAGE
            ).select_related("contract", "product")


@admin.register(RatePlan)
class RatePlanAdmin(admin.ModelAdmin):
    """Usage lines' rate plans; a change applies to the periods rated from then on."""

    form = RatePlanForm
    inlines = [RateTierInline]
    list_display = ["line", "kind", "currency", "minimum_charge", "maximum_charge"]
    list_filter = ["kind"]
    list_select_related = ["line__contract", "line__product"]
    search_fields = ["line__contract__number", "line__product__name", "line__description"]
    readonly_fields = ["currency"]
    fieldsets = [
        (None, {"fields": ["line", "currency", "kind"]}),
        ("Per unit and overage", {"fields": ["unit_price", "included_quantity", "base_fee"]}),
        ("Package", {"fields": ["package_size", "package_price"]}),
        ("Per period", {"fields": ["minimum_charge", "maximum_charge"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        # A plan belongs to its line for good: moving it would re-rate another line's usage.
        return [*self.readonly_fields, "line"] if obj is not None else self.readonly_fields

    @admin.display(description="Currency")
    def currency(self, plan: RatePlan) -> str:
        """Return the contract's currency, which every amount of the plan is in."""
        return plan.line.contract.currency if plan.line_id else "the contract's currency"
