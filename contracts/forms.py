"""Admin forms that enter money the way a finance user thinks of it: in the contract's currency.

A contract has one currency, so its lines and budgets have exactly one valid currency. Instead of
an amount box and a 300-entry currency list per price (where any other choice is an error), these
forms take plain amounts and attach the contract's currency themselves. The model's own
validation still refuses mixed currencies from every other entry point (API, imports).
"""

from decimal import Decimal

from django import forms
from djmoney.money import Money

from contracts.models import Contract, ContractLine, Customer
from rms.money import currency_choices, round_money


def currency_field(*, required: bool = True, help_text: str = "") -> forms.ChoiceField:
    """A currency select with an empty first choice, so that none is picked by accident."""
    return forms.ChoiceField(
        choices=[("", "———"), *currency_choices()], required=required, help_text=help_text
    )


def amount_for_display(money: Money | None) -> Decimal | None:
    """Show a stored 4-place amount as 100.00 rather than 100.0000 when no precision is lost."""
    if money is None:
        return None
    rounded = round_money(money)
    return rounded.amount if rounded == money else money.amount


def amount_field(model_field) -> forms.DecimalField:
    """The plain amount box that stands for a money field."""
    return forms.DecimalField(
        label=model_field.verbose_name[:1].upper() + model_field.verbose_name[1:],
        max_digits=model_field.max_digits,
        decimal_places=model_field.decimal_places,
        min_value=0,
        required=not model_field.blank,
        help_text=model_field.help_text,
    )


class AmountsFormMetaclass(forms.models.ModelFormMetaclass):
    """Put the amount boxes in the form class's fields, once per class.

    Every form copies its class's fields; a money field copied per form (per row of a contract's
    lines, with its list of every currency) was most of the contract page's time.
    """

    def __new__(mcs, name, bases, attrs):
        new_class = super().__new__(mcs, name, bases, attrs)
        model = new_class._meta.model
        if model is not None:
            for field_name in new_class.money_fields:
                new_class.base_fields[field_name] = amount_field(model._meta.get_field(field_name))
        return new_class


class AmountsInContractCurrencyForm(forms.ModelForm, metaclass=AmountsFormMetaclass):
    """Enter the ``money_fields`` as plain amounts; ``amounts_currency()`` supplies the currency."""

    money_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in self.money_fields:
            self.initial[name] = amount_for_display(getattr(self.instance, name))

    def amounts_currency(self) -> str | None:
        raise NotImplementedError

    def _post_clean(self) -> None:
        currency = self.amounts_currency()
        if currency is None:
            # No currency yet (the contract's own form reports why): the amounts cannot be
            # read, and checking the row without them would only add misleading errors.
            return
        for name in self.money_fields:
            amount = self.cleaned_data.get(name)
            if amount is not None:
                self.cleaned_data[name] = Money(amount, currency)
            elif name in self.cleaned_data:
                self.cleaned_data[name] = None
        super()._post_clean()

    def _update_errors(self, errors) -> None:
        """Keep the model's complaints off fields whose own input was already refused.

        A refused amount never reaches the model, which would then report it as missing.
        """
        if hasattr(errors, "error_dict"):
            for field in [f for f in errors.error_dict if f in self._errors]:
                del errors.error_dict[field]
            if not errors.error_dict:
                return
        super()._update_errors(errors)


class CustomerForm(forms.ModelForm):
    currency = currency_field(help_text="Default currency of this customer's contracts.")

    class Meta:
        model = Customer
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose the fields shown


class ContractForm(AmountsInContractCurrencyForm):
    """The contract header; an empty currency takes the customer's."""

    money_fields = ("not_to_exceed", "cost_budget")
    currency = currency_field(
        required=False, help_text="Leave empty to use the customer's currency."
    )

    class Meta:
        model = Contract
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose the fields shown

    def amounts_currency(self) -> str | None:
        return self.cleaned_data.get("currency") or None

    def clean(self) -> dict:
        cleaned = super().clean()
        customer = cleaned.get("customer")
        if not cleaned.get("currency") and customer is not None:
            cleaned["currency"] = customer.currency
        if not cleaned.get("currency") and "customer" not in self.errors:
            self.add_error("currency", "Choose a currency (or a customer to take it from).")
        return cleaned


class ContractLineForm(AmountsInContractCurrencyForm):
    """A line in its contract's currency; an empty billing model takes the product's default."""

    money_fields = ("unit_price", "ssp_override")

    class Meta:
        model = ContractLine
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose the fields shown
        labels = {"one_time_trigger": "Bill one-time items"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["billing_model"].required = False
        self.fields["billing_model"].help_text = "Leave empty to use the product's default."
        if self.instance.pk:
            # 12 seats, not 12.0000: trailing zeros of the stored scale say nothing.
            self.initial["quantity"] = f"{self.instance.quantity.normalize():f}"

    def amounts_currency(self) -> str | None:
        # The inline's hidden foreign key cleans to the contract being edited (saved or not).
        contract = self.cleaned_data.get("contract")
        return contract.currency if contract is not None else None

    def clean(self) -> dict:
        cleaned = super().clean()
        product = cleaned.get("product")
        if not cleaned.get("billing_model") and product is not None:
            cleaned["billing_model"] = product.default_billing_model
        return cleaned
