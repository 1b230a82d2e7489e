"""Contracts with their lines: one row per line, the contract's columns repeated on each.

A contract is found by ``contract_number`` and a line by the contract and ``line_sequence``;
rows update what they find and create what they do not, and lines of a stored contract that the
file does not mention stay as they are. The contract's columns must agree on every row of the
contract. Every row is checked as the admin's forms check a contract and its lines (field
rules, ``clean()``, check constraints; ``contracts.validation``), on drafts rather than model
instances (``ContractDraft``, ``LineDraft``: the models' own rules, a third less CPU), with
the customer, products, users and stored rows looked up once per chunk. After the import
commits, billing and revenue follow the new terms of each contract touched, in chunked
background tasks.
"""

from collections import defaultdict
from collections.abc import Iterator

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone

from contracts.models import (
    BillDayMode,
    BillingModel,
    BillTiming,
    Contract,
    ContractLine,
    Customer,
    OneTimeTrigger,
    Product,
    RevenuePolicy,
)
from contracts.validation import draft_errors
from imports import cells
from imports.engine import Column, Layout, Row, Status
from imports.objects import Changes, Draft, by, cell, changed_fields, money, snapshot
from rms.money import CURRENCY_CODES

# Columns read into a field of the same meaning: column -> field.
CONTRACT_FIELDS = {
    "title": "title",
    "status": "status",
    "signed_date": "signed_date",
    "start_date": "start_date",
    "end_date": "end_date",
    "evergreen": "evergreen",
    "milestone_approval": "milestone_approval",
    "milestones_in_order": "milestones_in_order",
}
CONTRACT_MONEY = {"not_to_exceed": "not_to_exceed", "cost_budget": "cost_budget"}
CONTRACT_USERS = {"finance_owner": "finance_owner", "project_manager": "project_manager"}
LINE_FIELDS = {
    "description": "description",
    "billing_model": "billing_model",
    "quantity": "quantity",
    "service_start": "service_start",
    "service_end": "service_end",
    "revenue_policy": "revenue_policy_override",
    "interval_months": "interval_months",
    "bill_timing": "bill_timing",
    "bill_day_mode": "bill_day_mode",
    "bill_day": "bill_day",
    "one_time_trigger": "one_time_trigger",
    "subscription_key": "subscription_key",
}
LINE_MONEY = {"unit_price": "unit_price", "ssp_override": "ssp_override"}
CONTRACT_COLUMNS = [
    "contract_number",
    "customer_number",
    "currency",
    *CONTRACT_FIELDS,
    *CONTRACT_MONEY,
    *CONTRACT_USERS,
]
# A model field's errors are shown under the column it is read from.
COLUMN_OF_CONTRACT = {
    "number": "contract_number",
    "customer": "customer_number",
    "currency": "currency",
    **{f: c for c, f in {**CONTRACT_FIELDS, **CONTRACT_MONEY, **CONTRACT_USERS}.items()},
}
COLUMN_OF_LINE = {
    "sequence": "line_sequence",
    "product": "sku",
    **{f: c for c, f in {**LINE_FIELDS, **LINE_MONEY}.items()},
}
# Fields read from a column whose parser checks the cell as the field would (type, length,
# choices, range), so full_clean need not check them again one by one.
PARSED_CONTRACT_FIELDS = {"number", "currency", *CONTRACT_FIELDS.values(), *CONTRACT_MONEY.values()}
PARSED_LINE_FIELDS = {"sequence", *LINE_FIELDS.values(), *LINE_MONEY.values()}
CONTRACT_ATTNAMES = [f.attname for f in Contract._meta.concrete_fields]
LINE_ATTNAMES = [f.attname for f in ContractLine._meta.concrete_fields]
# Background work after an import: contracts per task that re-derives schedules and revenue.
FOLLOW_UP_CHUNK = 200


class ContractDraft(Draft):
    """A contract as a draft, checked by ``Contract``'s own rules (see ``LineDraft``)."""

    model = Contract
    clean = Contract.clean


class LineDraft(Draft):
    """A contract line as a draft (``imports.objects.Draft``), checked by ``ContractLine``'s own
    rules: a file's lines are most of its rows, and a model instance each cost half the time."""

    model = ContractLine
    clean = ContractLine.clean
    _currency_errors = ContractLine._currency_errors
    _term_errors = ContractLine._term_errors
    _milestone_value_errors = ContractLine._milestone_value_errors
    extended_amount = ContractLine.extended_amount


def _users(usernames: set[str]) -> dict[str, models.Model]:
    User = get_user_model()
    return by(User.objects.filter(username__in=usernames), "username")


class ContractsLayout(Layout):
    name = "contracts"
    title = "Contracts with their lines"
    model = Contract
    key = ("contract_number", "line_sequence")
    group = ("contract_number",)
    group_label = "contract"
    columns = (
        Column("contract_number", cells.text(32), required=True, help="The contract's number."),
        Column("customer_number", cells.text(32), required=True, help="The customer's account."),
        Column("currency", cells.currency(CURRENCY_CODES), help="Empty: the customer's."),
        Column("title", cells.text(255), help="Free text, e.g. Platform and rollout."),
        Column(
            "status",
            cells.choice(Contract.Status.values),
            help="draft, active, completed or terminated; empty on a new one: draft.",
        ),
        Column("signed_date", cells.iso_date, help="Booking date, YYYY-MM-DD."),
        Column("start_date", cells.iso_date, required=True, help="YYYY-MM-DD."),
        Column("end_date", cells.iso_date, help="Empty when evergreen."),
        Column("evergreen", cells.boolean, help="true when the contract has no end."),
        Column("not_to_exceed", cells.decimal(not_negative=True), help="Billing cap."),
        Column("cost_budget", cells.decimal(not_negative=True), help="Cost budget of a project."),
        Column(
            "milestone_approval", cells.boolean, help="true: achieved milestones await approval."
        ),
        Column(
            "milestones_in_order", cells.boolean, help="true: milestones are achieved in order."
        ),
        Column("finance_owner", cells.text(150), help="Username."),
        Column("project_manager", cells.text(150), help="Username."),
        Column("line_sequence", cells.integer(low=1, high=32767), required=True, help="1, 2, 3…"),
        Column("sku", cells.text(64), required=True, help="The product's SKU."),
        Column("description", cells.text(255), help="Printed on the invoice line."),
        Column(
            "billing_model",
            cells.choice(BillingModel.values),
            help="subscription, usage, one_time or milestone; empty: the product's default.",
        ),
        Column("quantity", cells.decimal(positive=True), help="Empty on a new line: 1."),
        Column(
            "unit_price",
            cells.decimal(not_negative=True),
            help="Per unit and billing period; a milestone line's value.",
        ),
        Column("service_start", cells.iso_date, help="Empty: the contract's start."),
        Column("service_end", cells.iso_date, help="Empty: the contract's end."),
        Column(
            "ssp_override",
            cells.decimal(not_negative=True),
            help="SSP per unit in the contract's currency; empty: the product's.",
        ),
        Column(
            "revenue_policy",
            cells.choice(RevenuePolicy.values),
            help="Overrides the product's, e.g. ratable.",
        ),
        Column(
            "interval_months",
            cells.integer(low=1, high=120),
            help="Subscriptions: months per billing period.",
        ),
        Column("bill_timing", cells.choice(BillTiming.values), help="advance or arrears."),
        Column(
            "bill_day_mode", cells.choice(BillDayMode.values), help="anniversary or calendar_day."
        ),
        Column("bill_day", cells.integer(low=1, high=31), help="1-31, for calendar_day billing."),
        Column(
            "one_time_trigger",
            cells.choice(OneTimeTrigger.values),
            help="One-time lines: on_order or on_shipment.",
        ),
        Column("subscription_key", cells.text(64), help="Usage lines: the metering key."),
    )

    def __init__(self) -> None:
        super().__init__()
        # The first row of each contract and its contract columns, to hold later rows to them.
        self._contracts_seen: dict[str, tuple[int, tuple]] = {}
        self._keys_seen: dict[str, int] = {}

    # --- Import ------------------------------------------------------------------------

    def write(self, rows: list[Row]) -> None:
        groups: dict[str, list[Row]] = defaultdict(list)
        for row in rows:
            if self._agrees_with_first_row(row):
                groups[row.values["contract_number"]].append(row)
        found = _Lookups(groups)
        contracts = Changes()
        lines = Changes()
        for group in groups.values():
            contract = self._contract(group[0], found, contracts)
            if contract is None:
                for row in group[1:]:
                    first = group[0].number
                    row.refuse("", f"not imported: the contract on row {first} has errors.")
                continue
            for row in group:
                self._line(row, contract, found, lines)
                if row.errors:
                    continue
                # A line kept as it was still counts as updated when its contract changed.
                row.status = lines.status_of(row)
                contract_changed = contracts.status_of(group[0]) == Status.UPDATED
                if row.status == Status.UNCHANGED and contract_changed:
                    row.status = Status.UPDATED
        self._save(contracts, lines)

    def _agrees_with_first_row(self, row: Row) -> bool:
        """Hold a contract's later rows to the contract columns of its first row."""
        number = row.values["contract_number"]
        signature = tuple(row.source.cells.get(c, "").strip() for c in CONTRACT_COLUMNS)
        first, expected = self._contracts_seen.setdefault(number, (row.number, signature))
        if first == row.number or signature == expected:
            return True
        for column, mine, theirs in zip(CONTRACT_COLUMNS, signature, expected, strict=True):
            if mine != theirs:
                row.refuse(
                    column,
                    f"{mine or '(empty)'} differs from {theirs or '(empty)'} on row {first}, "
                    f"the first row of contract {number}; a contract's columns must agree.",
                )
        return False

    def _contract(self, row: Row, found: "_Lookups", changes: Changes) -> ContractDraft | None:
        """Build or update the row's contract; refuse the row and return None if it is bad."""
        number = row.values["contract_number"]
        contract = found.contracts.get(number)
        new = contract is None
        if new:
            contract = ContractDraft.new()
            contract.number = number
        before = snapshot(contract)
        customer = found.customers.get(row.values["customer_number"])
        if customer is None:
            row.refuse(
                "customer_number",
                f"no customer has account number {row.values['customer_number']}.",
            )
            return None
        contract.relate("customer", customer)
        currency = row.values.get("currency") if row.present("currency") else None
        if currency or new:
            contract.currency = currency or contract.currency or customer.currency
        for column, name in CONTRACT_FIELDS.items():
            if row.present(column):
                contract.set(name, row.values[column], new=new)
        for column, name in CONTRACT_MONEY.items():
            if row.present(column):
                contract.set_money(name, money(row.values[column], contract.currency))
        for column, name in CONTRACT_USERS.items():
            if row.present(column):
                username = row.values[column]
                user = found.users.get(username) if username else None
                if username and user is None:
                    row.refuse(column, f"no user has the username {username}.")
                contract.relate(name, user)
        errors = draft_errors(
            contract,
            exclude={"customer", "finance_owner", "project_manager"},
            parsed=PARSED_CONTRACT_FIELDS,
        )
        row.refuse_all(errors, COLUMN_OF_CONTRACT)
        if row.errors:
            return None
        changes.add(contract, row, new=new, changed=changed_fields(contract, before))
        return contract

    def _line(self, row: Row, contract: ContractDraft, found: "_Lookups", changes: Changes) -> None:
        sequence = row.values["line_sequence"]
        stored = found.lines.get((contract.pk, sequence)) if contract.pk else None
        new = stored is None
        if new:
            line = LineDraft.new()
            line.sequence = sequence
        else:
            line = stored.copy()
        before = snapshot(line)
        line.relate("contract", contract)
        product = found.products.get(row.values["sku"])
        if product is None:
            row.refuse("sku", f"no product has the SKU {row.values['sku']}.")
            return
        line.relate("product", product)
        for column, name in LINE_FIELDS.items():
            if row.present(column):
                line.set(name, row.values[column], new=new)
        for column, name in LINE_MONEY.items():
            if row.present(column):
                line.set_money(name, money(row.values[column], contract.currency))
        if not line.billing_model:
            line.billing_model = product.default_billing_model
        if new:
            line.service_start = line.service_start or contract.start_date
        self._check_subscription_key(row, line, contract, found)
        row.refuse_all(
            draft_errors(line, exclude={"contract", "product"}, parsed=PARSED_LINE_FIELDS),
            COLUMN_OF_LINE,
        )
        if not row.errors:
            changes.add(line, row, new=new, changed=changed_fields(line, before))

    def _check_subscription_key(self, row, line, contract, found) -> None:
        key = line.subscription_key
        if not key:
            line.subscription_key = None  # unique, so "no key" is NULL, never ""
            return
        first = self._keys_seen.setdefault(key, row.number)
        if first != row.number:
            row.refuse("subscription_key", f"{key} is the key of the line on row {first} too.")
        owner = found.keys.get(key)
        if owner is not None and owner != (contract.pk, line.sequence):
            row.refuse("subscription_key", f"{key} is the key of another contract line already.")

    def _save(self, contracts: Changes, lines: Changes) -> None:
        now = timezone.now()
        for contract in contracts.updated:
            contract.updated_at = now
        with transaction.atomic():
            contracts.write(Contract, extra=["updated_at"])
            for line in lines.created:
                line.contract_id = line.contract.pk
            lines.write(ContractLine)
        self.touched.update(c.pk for c in [*contracts.created, *contracts.updated])
        self.touched.update(line.contract_id for line in [*lines.created, *lines.updated])

    def after_commit(self) -> None:
        from contracts.tasks import contracts_follow_terms_task

        ids = sorted(self.touched)
        for start in range(0, len(ids), FOLLOW_UP_CHUNK):
            contracts_follow_terms_task.delay(ids[start : start + FOLLOW_UP_CHUNK])

    # --- Export ------------------------------------------------------------------------

    def export_rows(self, queryset: models.QuerySet) -> Iterator[dict[str, str]]:
        contracts = queryset.select_related(
            "customer", "finance_owner", "project_manager"
        ).prefetch_related(
            models.Prefetch(
                "lines",
                queryset=ContractLine.objects.select_related("product").order_by("sequence"),
            )
        )
        for contract in contracts.order_by("number").iterator(chunk_size=500):
            head = {
                "contract_number": contract.number,
                "customer_number": contract.customer.number,
                "currency": contract.currency,
                **{c: cell(getattr(contract, f)) for c, f in CONTRACT_FIELDS.items()},
                **{c: cell(getattr(contract, f)) for c, f in CONTRACT_MONEY.items()},
                **{
                    c: getattr(contract, f).get_username() if getattr(contract, f) else ""
                    for c, f in CONTRACT_USERS.items()
                },
            }
            for line in contract.lines.all():
                yield {
                    **head,
                    "line_sequence": str(line.sequence),
                    "sku": line.product.sku,
                    **{c: cell(getattr(line, f)) for c, f in LINE_FIELDS.items()},
                    **{c: cell(getattr(line, f)) for c, f in LINE_MONEY.items()},
                }


class _Lookups:
    """What a chunk refers to, read with one query per kind."""

    def __init__(self, groups: dict[str, list[Row]]) -> None:
        rows = [row for group in groups.values() for row in group]
        self.customers = by(
            Customer.objects.filter(number__in={r.values["customer_number"] for r in rows}),
            "number",
        )
        self.products = by(Product.objects.filter(sku__in={r.values["sku"] for r in rows}), "sku")
        usernames = {r.values.get(c) for r in rows for c in CONTRACT_USERS} - {None}
        self.users = _users(usernames) if usernames else {}
        self.contracts = {
            values["number"]: ContractDraft.stored(values)
            for values in Contract.objects.filter(number__in=groups)
            .order_by()
            .values(*CONTRACT_ATTNAMES)
        }
        stored_lines = ContractLine.with_fixed_milestones(
            ContractLine.objects.filter(
                contract_id__in=[contract.pk for contract in self.contracts.values()],
                sequence__in={r.values["line_sequence"] for r in rows},
            ).order_by()
        ).values(*LINE_ATTNAMES, "fixed_milestones_total")
        self.lines = {
            (values["contract_id"], values["sequence"]): LineDraft.stored(values)
            for values in stored_lines
        }
        keys = {r.values.get("subscription_key") for r in rows} - {None}
        self.keys = {
            key: (contract_id, sequence)
            for key, contract_id, sequence in ContractLine.objects.filter(
                subscription_key__in=keys
            ).values_list("subscription_key", "contract_id", "sequence")
        }
