"""The demo book: customers, a catalog and contracts to explore RMS with, built by ``seed_demo``.

The book is a plan computed from fixed tables and a seeded ``random.Random``, with no reference to
today's date, so every run on every machine plans the same rows. The plan is then upserted by
natural keys (payment terms by name, customers by number, products by SKU, contracts by number,
lines by contract and sequence, contacts by customer and email) and a row is saved only when a
field differs: a second run finds everything in place and writes nothing.

Customer numbers, SKUs and contract numbers carry a ``DEMO-`` prefix so that the upsert can never
overwrite a real customer, product or contract that happens to share a number.

Prices follow one price book per currency rather than an exchange rate: a converted rate such as
0.0020 USD per API call would round to nothing in yen, and real companies publish local price
lists anyway. SSPs are stored in USD on the product; every line of a non-USD contract carries an
SSP override in its own currency, as ``ContractLine.clean()`` requires. A line's unit price is per
billing period (a year of seats on an annual line), so its SSP override is too; the product SSP of a
subscription is per month.
"""

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

from django.db import models, transaction
from django.db.models import Count
from djmoney.money import Money

from contracts.domain.milestones import spread
from contracts.models import (
    BillDayMode,
    BillingContact,
    BillingModel,
    BillTiming,
    ChangeOrder,
    Contract,
    ContractLine,
    Customer,
    Milestone,
    OneTimeTrigger,
    PaymentTerms,
    Product,
    RenewalTerms,
    RevenuePolicy,
)
from rms.money import round_money

SEED = 20260301
# The demo's "today": statuses read as of this day (ended contracts are completed, contracts that
# start later are drafts), so the book does not drift as the calendar moves on.
BOOK_DATE = date(2026, 3, 1)
SSP_CURRENCY = "USD"

# --- Tables -------------------------------------------------------------------------------------

# (name, basis, days)
PAYMENT_TERMS = [
    ("Net 30", "net", 30),
    ("Net 45", "net", 45),
    ("Due on receipt", "due_on_receipt", 0),
    ("End of month + 15", "end_of_month", 15),
]


class DemoProduct(NamedTuple):
    sku: str
    name: str
    description: str
    unit_of_measure: str
    billing_model: str
    revenue_policy: str
    # List price per unit in each currency it is sold in; the USD price is the product's SSP.
    # A currency left out is not sold in it (no sub-yen API rates).
    prices: dict[str, str]


SEAT_PRO = "DEMO-SAAS-SEAT-PRO"
SEAT_ENT = "DEMO-SAAS-SEAT-ENT"
SUPPORT = "DEMO-SUPPORT-PREMIUM"
ACTIVATION = "DEMO-ACTIVATION"
API_CALLS = "DEMO-API-CALLS"
STORAGE = "DEMO-STORAGE-GB"
GATEWAY = "DEMO-HW-EG200"
SENSORS = "DEMO-HW-SENSOR-PACK"
IMPLEMENTATION = "DEMO-IMPL-SERVICES"
TRAINING = "DEMO-TRAINING-DAY"


PRODUCTS = [
    DemoProduct(
        SEAT_PRO,
        "Platform seat, Professional",
        "Named-user access to the platform, billed per seat per month.",
        "seat",
        BillingModel.SUBSCRIPTION,
        RevenuePolicy.RATABLE,
        {"USD": "45.00", "EUR": "42.00", "GBP": "36.00", "JPY": "6800"},
    ),
    DemoProduct(
        SEAT_ENT,
        "Platform seat, Enterprise",
        "Named-user access with SSO, audit log and sandbox environments, per seat per month.",
        "seat",
        BillingModel.SUBSCRIPTION,
        RevenuePolicy.RATABLE,
        {"USD": "85.00", "EUR": "79.00", "GBP": "68.00", "JPY": "12800"},
    ),
    DemoProduct(
        SUPPORT,
        "Premium support",
        "24x7 support with a named technical account manager, per month.",
        "month",
        BillingModel.SUBSCRIPTION,
        RevenuePolicy.RATABLE,
        {"USD": "1500.00", "EUR": "1400.00", "GBP": "1200.00", "JPY": "225000"},
    ),
    DemoProduct(
        ACTIVATION,
        "Activation and setup fee",
        "Tenant provisioning and initial configuration; rides on the first invoice.",
        "each",
        BillingModel.ONE_TIME,
        RevenuePolicy.POINT_IN_TIME,
        {"USD": "2500.00", "EUR": "2300.00", "GBP": "2000.00", "JPY": "375000"},
    ),
    DemoProduct(
        API_CALLS,
        "API calls",
        "Metered calls to the public API, rated per call.",
        "API call",
        BillingModel.USAGE,
        RevenuePolicy.AS_CONSUMED,
        {"USD": "0.0020", "EUR": "0.0018", "GBP": "0.0016"},
    ),
    DemoProduct(
        STORAGE,
        "Storage",
        "Average stored data over the billing period, per GB-month.",
        "GB-month",
        BillingModel.USAGE,
        RevenuePolicy.AS_CONSUMED,
        {"USD": "0.1200", "EUR": "0.1100", "GBP": "0.0950", "JPY": "18"},
    ),
    DemoProduct(
        GATEWAY,
        "Edge gateway appliance EG-200",
        "Ruggedised edge gateway with LTE failover and a three-year hardware warranty.",
        "unit",
        BillingModel.ONE_TIME,
        RevenuePolicy.POINT_IN_TIME,
        {"USD": "1200.00", "EUR": "1100.00", "GBP": "950.00", "JPY": "180000"},
    ),
    DemoProduct(
        SENSORS,
        "Sensor pack (10 sensors)",
        "Ten wireless temperature and vibration sensors, pre-paired with a gateway.",
        "pack",
        BillingModel.ONE_TIME,
        RevenuePolicy.POINT_IN_TIME,
        {"USD": "350.00", "EUR": "325.00", "GBP": "280.00", "JPY": "52000"},
    ),
    DemoProduct(
        IMPLEMENTATION,
        "Implementation services",
        "Fixed-fee implementation project, invoiced on milestones (standard package price).",
        "project",
        BillingModel.MILESTONE,
        RevenuePolicy.MILESTONE,
        {"USD": "48000.00", "EUR": "44000.00", "GBP": "38000.00", "JPY": "7200000"},
    ),
    DemoProduct(
        TRAINING,
        "Administrator training",
        "On-site or remote administrator training, per trainer day.",
        "day",
        BillingModel.ONE_TIME,
        RevenuePolicy.POINT_IN_TIME,
        {"USD": "1800.00", "EUR": "1650.00", "GBP": "1400.00", "JPY": "270000"},
    ),
]
PRODUCTS_BY_SKU = {p.sku: p for p in PRODUCTS}


class DemoCustomer(NamedTuple):
    number: str
    legal_name: str
    currency: str
    terms: str
    # (street, city, region, postal code, country)
    address: tuple[str, str, str, str, str]
    tax_id: str
    # (name, email) of each billing contact
    contacts: tuple[tuple[str, str], ...]
    # How many contracts the customer holds in the book.
    contracts: int
    delivery_method: str = Customer.DeliveryMethod.EMAIL
    billing_hold: bool = False
    delivery_hold: bool = False
    hold_reason: str = ""
    # "review": the customer's invoices wait as drafts on the worklist before they go out.
    invoice_review: str = Customer.InvoiceReview.DEFAULT


NONE = Customer.DeliveryMethod.NONE

CUSTOMERS = [
    DemoCustomer(
        "DEMO-C1001", "Northwind Logistics GmbH", "EUR", "Net 30",
        ("Speicherstadt 12", "Hamburg", "", "20457", "DE"), "DE811000001",
        (("Accounts Payable", "ap.northwind@example.com"),
         ("Jana Krüger", "jana.krueger@example.com")),
        3,
    ),
    DemoCustomer(
        "DEMO-C1002", "Contoso Pharmaceuticals Inc.", "USD", "Net 45",
        ("200 Pier 4 Blvd", "Boston", "MA", "02210", "US"), "04-1000002",
        (("Invoice Desk", "invoices.contoso@example.com"),),
        3,
    ),
    DemoCustomer(
        "DEMO-C1003", "Fabrikam Manufacturing Ltd", "GBP", "End of month + 15",
        ("45 Trafford Wharf Road", "Manchester", "", "M17 1AB", "GB"), "GB100000003",
        (("Purchase Ledger", "purchase.ledger@example.org"),
         ("Tom Whitaker", "tom.whitaker@example.org")),
        3,
    ),
    DemoCustomer(
        "DEMO-C1004", "Tailspin Toys Corporation", "USD", "Net 30",
        ("1500 Westlake Ave N", "Seattle", "WA", "98109", "US"), "91-1000004",
        (("Accounts Payable", "ap.tailspin@example.com"),),
        2,
    ),
    DemoCustomer(
        "DEMO-C1005", "Adventure Works Cycles LLC", "USD", "Due on receipt",
        ("18 Canyon Park Pl", "Bothell", "WA", "98011", "US"), "91-1000005",
        (("Finance Team", "finance.adventureworks@example.com"),),
        2,
    ),
    DemoCustomer(
        "DEMO-C1006", "Wide World Importers B.V.", "EUR", "Net 30",
        ("Wilhelminakade 91", "Rotterdam", "", "3072 AP", "NL"), "NL100000006B01",
        (("Crediteurenadministratie", "crediteuren.wwi@example.org"),),
        3,
    ),
    DemoCustomer(
        "DEMO-C1007", "Litware Software GmbH", "EUR", "Net 45",
        ("Mariahilfer Straße 77", "Vienna", "", "1060", "AT"), "ATU10000007",
        (("Buchhaltung", "buchhaltung.litware@example.com"),),
        2,
    ),
    DemoCustomer(
        "DEMO-C1008", "Proseware Analytics Ltd", "GBP", "Net 30",
        ("3 Wellington Place", "Leeds", "", "LS1 4AP", "GB"), "GB100000008",
        (("Accounts Payable", "ap.proseware@example.com"),),
        3,
    ),
    DemoCustomer(
        "DEMO-C1009", "Alpine Ski House SARL", "EUR", "End of month + 15",
        ("8 Rue Royale", "Annecy", "", "74000", "FR"), "FR10000000009",
        (("Comptabilité", "compta.alpineski@example.org"),),
        2,
        delivery_method=NONE,
    ),
    DemoCustomer(
        "DEMO-C1010", "Coho Vineyard & Winery Inc.", "USD", "Net 30",
        ("1200 Silverado Trail", "Napa", "CA", "94558", "US"), "94-1000010",
        (("Accounts Payable", "ap.coho@example.com"),),
        2,
    ),
    DemoCustomer(
        "DEMO-C1011", "Kawasaki Precision Devices K.K.", "JPY", "End of month + 15",
        ("3-1-1 Umeda, Kita-ku", "Osaka", "Osaka", "530-0001", "JP"), "T1000000000011",
        (("Keiri-bu (Accounting)", "keiri.kawasaki@example.com"),),
        2,
    ),
    DemoCustomer(
        "DEMO-C1012", "Blue Yonder Airlines Inc.", "USD", "Net 45",
        ("2400 Aviation Dr", "Dallas", "TX", "75261", "US"), "75-1000012",
        (("Vendor Payments", "vendor.payments@example.com"),
         ("Priya Raman", "priya.raman@example.com")),
        3,
        billing_hold=True,
        hold_reason="Credit review: two invoices more than 90 days past due.",
    ),
    DemoCustomer(
        "DEMO-C1013", "Margie's Travel Ltd", "GBP", "Due on receipt",
        ("22 Queen Square", "Bristol", "", "BS1 4ND", "GB"), "GB100000013",
        (("Accounts", "accounts.margies@example.org"),),
        2,
        delivery_hold=True,
        hold_reason="AP mailbox bounces; waiting for a new billing address.",
    ),
    DemoCustomer(
        "DEMO-C1014", "Lucerne Publishing S.r.l.", "EUR", "Net 45",
        ("Via Solferino 28", "Milan", "MI", "20121", "IT"), "IT10000000014",
        (("Amministrazione", "amministrazione.lucerne@example.com"),),
        3,
    ),
    DemoCustomer(
        "DEMO-C1015", "Woodgrove Bank N.A.", "USD", "Net 45",
        ("301 S Tryon St", "Charlotte", "NC", "28202", "US"), "56-1000015",
        (("Supplier Portal Team", "supplier.portal@example.com"),),
        3,
        delivery_method=NONE,
    ),
    DemoCustomer(
        "DEMO-C1016", "Trey Research Inc.", "USD", "Net 30",
        ("10300 Campus Point Dr", "San Diego", "CA", "92121", "US"), "33-1000016",
        (("Accounts Payable", "ap.treyresearch@example.org"),),
        2,
        invoice_review=Customer.InvoiceReview.REVIEW,
    ),
    DemoCustomer(
        "DEMO-C1017", "Fourth Coffee Roasters Ltd", "GBP", "Net 30",
        ("14 Leith Walk", "Edinburgh", "", "EH6 5DT", "GB"), "GB100000017",
        (("Finance", "finance.fourthcoffee@example.com"),),
        2,
    ),
    DemoCustomer(
        "DEMO-C1018", "Humongous Insurance Co.", "USD", "Net 45",
        ("1 American Row", "Hartford", "CT", "06103", "US"), "06-1000018",
        (("Accounts Payable", "ap.humongous@example.com"),
         ("Procurement", "procurement.humongous@example.com")),
        3,
    ),
    DemoCustomer(
        "DEMO-C1019", "Relecloud Energía S.L.", "EUR", "Net 30",
        ("Paseo de la Castellana 95", "Madrid", "", "28046", "ES"), "ESB10000019",
        (("Cuentas a pagar", "cuentas.relecloud@example.org"),),
        2,
        delivery_method=NONE,
    ),
    DemoCustomer(
        "DEMO-C1020", "Consolidated Messenger Inc.", "USD", "End of month + 15",
        ("233 S Wacker Dr", "Chicago", "IL", "60606", "US"), "36-1000020",
        (("Accounts Payable", "ap.consolidated@example.com"),),
        3,
    ),
]  # fmt: skip


class LineTemplate(NamedTuple):
    sku: str
    # Quantities to pick from (seats, units, trainer days); usage and milestone lines use 1.
    quantities: tuple[int, ...] = (1,)
    # One-time lines: "on_order", "on_shipment", or "either" to let the seed choose.
    trigger: str = ""
    description: str = ""


class Shape(NamedTuple):
    """A kind of deal: the lines a contract of this kind carries."""

    title: str
    lines: tuple[LineTemplate, ...]
    evergreen: bool = False
    # Whether the deal may carry a not-to-exceed cap and a cost budget (project work).
    budgeted: bool = False


EITHER = "either"
ON_ORDER = OneTimeTrigger.ON_ORDER
ON_SHIPMENT = OneTimeTrigger.ON_SHIPMENT

# Contracts cycle through these in order, so every billing model appears whatever the seed.
SHAPES = [
    Shape(
        "Platform subscription",
        (
            LineTemplate(SEAT_PRO, (10, 25, 40, 60)),
            LineTemplate(ACTIVATION, trigger=ON_ORDER),
            LineTemplate(API_CALLS),
        ),
    ),
    Shape(
        "Edge monitoring rollout",
        (
            LineTemplate(IMPLEMENTATION, description="Site survey, pilot site, fleet rollout"),
            LineTemplate(GATEWAY, (5, 12, 20, 40), trigger=EITHER),
            LineTemplate(SENSORS, (10, 24, 50), trigger=EITHER),
            LineTemplate(STORAGE),
        ),
        budgeted=True,
    ),
    Shape(
        "Enterprise platform agreement",
        (
            LineTemplate(SEAT_ENT, (50, 120, 250, 400)),
            LineTemplate(SUPPORT),
            LineTemplate(ACTIVATION, trigger=ON_ORDER),
            LineTemplate(API_CALLS),
            LineTemplate(STORAGE),
        ),
    ),
    Shape(
        "Implementation project",
        (
            LineTemplate(IMPLEMENTATION, description="Design, configuration, data migration"),
            LineTemplate(TRAINING, (2, 3, 5), trigger=ON_SHIPMENT),
        ),
        budgeted=True,
    ),
    Shape(
        "Pay-as-you-go API access",
        (LineTemplate(API_CALLS), LineTemplate(STORAGE)),
        evergreen=True,
    ),
    Shape("Premium support plan", (LineTemplate(SUPPORT),)),
    Shape(
        "Gateway hardware order",
        (
            LineTemplate(GATEWAY, (5, 12, 20, 40), trigger=EITHER),
            LineTemplate(SENSORS, (10, 24, 50), trigger=EITHER),
        ),
    ),
    Shape(
        "Team plan",
        (LineTemplate(SEAT_PRO, (5, 10, 15)), LineTemplate(ACTIVATION, trigger=ON_ORDER)),
        evergreen=True,
    ),
]

ACTIVE = Contract.Status.ACTIVE
DRAFT = Contract.Status.DRAFT
COMPLETED = Contract.Status.COMPLETED
TERMINATED = Contract.Status.TERMINATED

# The contracts that are not plain active ones without holds, by number.
CONTRACT_EXCEPTIONS: dict[str, dict[str, Any]] = {
    "DEMO-K0004": {"status": DRAFT},
    "DEMO-K0013": {"status": DRAFT},
    "DEMO-K0027": {"status": DRAFT},
    "DEMO-K0041": {"status": DRAFT},
    "DEMO-K0048": {"status": DRAFT},
    "DEMO-K0009": {"status": COMPLETED},
    "DEMO-K0034": {"status": COMPLETED},
    "DEMO-K0019": {"status": TERMINATED},
    "DEMO-K0045": {"status": TERMINATED},
    "DEMO-K0007": {
        "billing_hold": True,
        "hold_reason": "Disputed invoice: the seat count is under review with the customer.",
    },
    "DEMO-K0022": {
        "billing_hold": True,
        "hold_reason": "Waiting for the customer's purchase order number for the rollout.",
    },
    "DEMO-K0016": {
        "delivery_hold": True,
        "hold_reason": "Customer asked to receive invoices only after their ERP cut-over.",
    },
    "DEMO-K0038": {
        "billing_hold": True,
        "delivery_hold": True,
        "hold_reason": "Legal review of the amended order form.",
    },
}

DISCOUNTS_PERCENT = (0, 0, 5, 10, 15, 20)
MILESTONE_SCOPE_FACTORS = ("0.75", "1", "1.25", "1.5", "2", "2.5")

# --- The plan: plain values, no database --------------------------------------------------------


@dataclass(frozen=True)
class LinePlan:
    sequence: int
    sku: str
    values: dict[str, Any]


@dataclass(frozen=True)
class ContractPlan:
    number: str
    customer_number: str
    values: dict[str, Any]
    lines: tuple[LinePlan, ...] = field(default=())


def _add_months(day: date, months: int) -> date:
    """Return ``day`` moved by whole months; the book only uses days 1-28, valid in every month."""
    index = day.year * 12 + day.month - 1 + months
    return day.replace(year=index // 12, month=index % 12 + 1)


def _month(rng: random.Random, first: date, last: date) -> date:
    """Pick the first of a month between ``first`` and ``last`` (both firsts of a month)."""
    span = (last.year - first.year) * 12 + last.month - first.month
    return _add_months(first, rng.randint(0, span))


def _contract_dates(rng: random.Random, status: str, evergreen: bool) -> dict[str, Any]:
    """Choose signed, start and end dates that agree with the status as of ``BOOK_DATE``.

    Active contracts started before the book date and run past it; drafts start after it;
    completed ones ran a full year that ended before it; terminated ones stopped early, so
    their end date is the termination date. Completed and terminated contracts have an end.
    """
    if status == DRAFT:
        start = _month(rng, date(2026, 4, 1), date(2026, 9, 1))
    elif status == COMPLETED:
        start = _month(rng, date(2024, 10, 1), date(2025, 1, 1))
    elif status == TERMINATED:
        start = _month(rng, date(2025, 1, 1), date(2025, 6, 1))
    else:
        start = _month(rng, date(2025, 4, 1), date(2026, 2, 1))
    # Most deals start on the 1st; some mid-month, which exercises anniversary billing.
    start = start.replace(day=rng.choice((1, 1, 1, 15)))
    if status == COMPLETED:
        evergreen, end = False, _add_months(start, 12) - timedelta(days=1)
    elif status == TERMINATED:
        # Started in the first half of 2025 and stopped after six to eight months, well before
        # the book date.
        evergreen, end = False, _add_months(start, rng.randint(6, 8)) - timedelta(days=1)
    elif evergreen:
        end = None
    else:
        end = _add_months(start, rng.choice((12, 24, 36))) - timedelta(days=1)
    signed = None if status == DRAFT else start - timedelta(days=rng.randint(5, 30))
    return {"signed_date": signed, "start_date": start, "end_date": end, "evergreen": evergreen}


def _subscription_terms(rng: random.Random, evergreen: bool) -> dict[str, Any]:
    """Choose one billing schedule for all subscription lines of a contract.

    Seats and support on one contract bill together, as a customer would expect one invoice.
    Evergreen plans bill monthly, as month-to-month plans do.
    """
    interval = 1 if evergreen else rng.choice((1, 1, 3, 12, 12))
    timing = rng.choice((BillTiming.ADVANCE,) * 3 + (BillTiming.ARREARS,))
    if rng.random() < 0.35:
        day_mode, bill_day = BillDayMode.CALENDAR_DAY, rng.choice((1, 15))
    else:
        day_mode, bill_day = BillDayMode.ANNIVERSARY, None
    return {
        "interval_months": interval,
        "bill_timing": timing,
        "bill_day_mode": day_mode,
        "bill_day": bill_day,
    }


def _discounted(list_price: Money, discount_percent: int) -> Money:
    """Return the list price less the discount, rounded half-up to the currency's minor unit."""
    factor = Decimal(100 - discount_percent) / 100
    return round_money(list_price.amount * factor, list_price.currency)


def _ssp_override(product: DemoProduct, list_price: Money) -> Money | None:
    """Return the line's SSP override, or None when the product's own SSP already states it."""
    if list_price == Money(product.prices[SSP_CURRENCY], SSP_CURRENCY):
        return None
    return list_price


def _line_values(
    rng: random.Random,
    template: LineTemplate,
    currency: str,
    discount: int,
    subscription_terms: dict[str, Any],
) -> dict[str, Any]:
    """Price one line and give it the terms of its billing model.

    Usage rates are list rates (discounts go on committed fees); every other price is the list
    price less the contract's discount. Every field the line stores is named, so a rerun resets
    a field edited by hand. The service dates are blanked for ``ContractLine.clean()`` to fill
    from the contract, so a line follows its contract's dates when those change.
    """
    product = PRODUCTS_BY_SKU[template.sku]
    list_price = Money(product.prices[currency], currency)
    values: dict[str, Any] = {
        "billing_model": product.billing_model,
        "description": template.description,
        "quantity": Decimal(rng.choice(template.quantities)),
        "service_start": None,
        "service_end": None,
        "revenue_policy_override": "",
        "interval_months": None,
        "bill_timing": "",
        "bill_day_mode": "",
        "bill_day": None,
        "one_time_trigger": "",
    }
    if product.billing_model == BillingModel.SUBSCRIPTION:
        values.update(subscription_terms)
        list_price = list_price * subscription_terms["interval_months"]
        values["unit_price"] = _discounted(list_price, discount)
    elif product.billing_model == BillingModel.USAGE:
        values["unit_price"] = list_price
    elif product.billing_model == BillingModel.ONE_TIME:
        trigger = template.trigger
        if trigger == EITHER:
            trigger = rng.choice((ON_ORDER, ON_SHIPMENT))
        values["one_time_trigger"] = trigger
        values["unit_price"] = _discounted(list_price, discount)
    else:  # milestone: the line's value is a project sized off the standard package
        scope = Decimal(rng.choice(MILESTONE_SCOPE_FACTORS))
        list_price = round_money(list_price.amount * scope, currency)
        values["unit_price"] = _discounted(list_price, discount)
    values["ssp_override"] = _ssp_override(product, list_price)
    return values


def _budgets(rng: random.Random, lines: list[LinePlan], currency: str) -> dict[str, Any]:
    """Give some project contracts a not-to-exceed cap (10% over the project) and a cost budget."""
    if rng.random() >= 0.6:
        return {"not_to_exceed": None, "cost_budget": None}
    project = sum(
        (line.values["unit_price"].amount for line in lines if line.sku == IMPLEMENTATION),
        Decimal(0),
    )
    return {
        "not_to_exceed": round_money(project * Decimal("1.10"), currency),
        "cost_budget": round_money(project * Decimal("0.65"), currency),
    }


def _eligible_shapes(currency: str) -> list[Shape]:
    """Return the deal shapes whose every product has a price in ``currency``."""
    return [
        shape
        for shape in SHAPES
        if all(currency in PRODUCTS_BY_SKU[t.sku].prices for t in shape.lines)
    ]


def _plan_contract(
    rng: random.Random, index: int, customer: DemoCustomer, shape: Shape
) -> ContractPlan:
    """Plan one contract of the given shape for the customer, with its lines."""
    number = f"DEMO-K{index:04d}"
    exception = CONTRACT_EXCEPTIONS.get(number, {})
    status = exception.get("status", ACTIVE)
    dates = _contract_dates(rng, status, shape.evergreen)
    discount = rng.choice(DISCOUNTS_PERCENT)
    subscription_terms = _subscription_terms(rng, dates["evergreen"])
    lines = [
        LinePlan(
            sequence,
            template.sku,
            _line_values(rng, template, customer.currency, discount, subscription_terms),
        )
        for sequence, template in enumerate(shape.lines, start=1)
    ]
    budgets = (
        _budgets(rng, lines, customer.currency)
        if shape.budgeted
        else {"not_to_exceed": None, "cost_budget": None}
    )
    values = {
        "title": f"{shape.title} {dates['start_date'].year}",
        "currency": customer.currency,
        "status": status,
        **dates,
        "billing_hold": exception.get("billing_hold", False),
        "delivery_hold": exception.get("delivery_hold", False),
        "hold_reason": exception.get("hold_reason", ""),
        **budgets,
        # Projects go milestone by milestone; every third waits for a finance approver.
        "milestones_in_order": shape.budgeted,
        "milestone_approval": shape.budgeted and index % 3 == 0,
    }
    return ContractPlan(number, customer.number, values, tuple(lines))


def demo_book_plan(*, seed: int = SEED) -> list[ContractPlan]:
    """Plan the book's contracts: the same list for the same seed, on any day.

    Shapes cycle per customer currency, so every billing model appears whatever the seed; the
    seed only varies quantities, dates, discounts and billing terms.
    """
    rng = random.Random(seed)
    plans = []
    for customer in CUSTOMERS:
        shapes = _eligible_shapes(customer.currency)
        for _ in range(customer.contracts):
            index = len(plans) + 1
            plans.append(_plan_contract(rng, index, customer, shapes[index % len(shapes)]))
    return plans


# --- Persisting the plan ------------------------------------------------------------------------

# Bookkeeping columns that change on every save and say nothing about the book's content.
_AUDIT_FIELDS = {"created_at", "updated_at"}


def _content(row: models.Model) -> dict[str, Any]:
    """Return the row's stored values, except its key and audit timestamps."""
    return {
        f.attname: getattr(row, f.attname)
        for f in row._meta.concrete_fields
        if not f.primary_key and f.attname not in _AUDIT_FIELDS
    }


def _upsert(
    model: type[models.Model],
    row: models.Model | None,
    values: dict[str, Any],
    tally: Counter,
) -> models.Model:
    """Create ``row`` from ``values``, or bring the existing ``row`` up to them.

    ``values`` includes the natural key. ``full_clean()`` runs before any comparison because
    ``clean()`` fills defaults (a line's service dates) that are part of what is stored. The row is
    saved only when a stored value differs: saving an unchanged row would still bump
    ``updated_at``, and a second run must change nothing.
    """
    before = None
    if row is None:
        row = model(**values)
    else:
        before = _content(row)
        for name, value in values.items():
            setattr(row, name, value)
    row.full_clean()
    if before is None:
        row.save()
        tally["created"] += 1
    elif _content(row) != before:
        row.save()
        tally["updated"] += 1
    else:
        tally["unchanged"] += 1
    return row


def _seed_payment_terms(tally: Counter) -> dict[str, PaymentTerms]:
    """Upsert the payment terms by name."""
    names = [name for name, _, _ in PAYMENT_TERMS]
    existing = {t.name: t for t in PaymentTerms.objects.filter(name__in=names)}
    return {
        name: _upsert(
            PaymentTerms,
            existing.get(name),
            {"name": name, "basis": basis, "days": days},
            tally,
        )
        for name, basis, days in PAYMENT_TERMS
    }


def _seed_products(tally: Counter) -> dict[str, Product]:
    """Upsert the catalog by SKU, each product's SSP being its USD list price."""
    existing = Product.objects.in_bulk([p.sku for p in PRODUCTS], field_name="sku")
    return {
        p.sku: _upsert(
            Product,
            existing.get(p.sku),
            {
                "sku": p.sku,
                "name": p.name,
                "description": p.description,
                "unit_of_measure": p.unit_of_measure,
                "default_billing_model": p.billing_model,
                "revenue_policy": p.revenue_policy,
                "ssp": Money(p.prices[SSP_CURRENCY], SSP_CURRENCY),
                "active": True,
            },
            tally,
        )
        for p in PRODUCTS
    }


def _seed_customers(terms: dict[str, PaymentTerms], tally: Counter) -> dict[str, Customer]:
    """Upsert the customers by number and their billing contacts by (customer, email)."""
    existing = Customer.objects.in_bulk([c.number for c in CUSTOMERS], field_name="number")
    customers = {}
    for c in CUSTOMERS:
        street, city, region, postal_code, country = c.address
        customers[c.number] = _upsert(
            Customer,
            existing.get(c.number),
            {
                "number": c.number,
                "legal_name": c.legal_name,
                "currency": c.currency,
                "payment_terms": terms[c.terms],
                "delivery_method": c.delivery_method,
                "tax_id": c.tax_id,
                "address_line1": street,
                "address_line2": "",
                "city": city,
                "region": region,
                "postal_code": postal_code,
                "country": country,
                "billing_hold": c.billing_hold,
                "delivery_hold": c.delivery_hold,
                "hold_reason": c.hold_reason,
                "invoice_review": c.invoice_review,
            },
            tally,
        )
    contacts = {
        (contact.customer_id, contact.email): contact
        for contact in BillingContact.objects.filter(customer__in=customers.values())
    }
    for c in CUSTOMERS:
        customer = customers[c.number]
        for name, email in c.contacts:
            _upsert(
                BillingContact,
                contacts.get((customer.pk, email)),
                {"customer": customer, "email": email, "name": name},
                tally,
            )
    return customers


def _seed_contracts(
    plans: list[ContractPlan],
    customers: dict[str, Customer],
    products: dict[str, Product],
    tally: Counter,
) -> None:
    """Upsert the contracts by number, then their lines by (contract, sequence)."""
    existing = Contract.objects.in_bulk([p.number for p in plans], field_name="number")
    contracts = {
        plan.number: _upsert(
            Contract,
            existing.get(plan.number),
            {"number": plan.number, "customer": customers[plan.customer_number], **plan.values},
            tally,
        )
        for plan in plans
    }
    lines = {
        (line.contract_id, line.sequence): line
        for line in ContractLine.objects.filter(contract__in=contracts.values())
    }
    for plan in plans:
        contract = contracts[plan.number]
        for line in plan.lines:
            row = _upsert(
                ContractLine,
                lines.get((contract.pk, line.sequence)),
                {
                    "contract": contract,
                    "sequence": line.sequence,
                    "product": products[line.sku],
                    **line.values,
                },
                tally,
            )
            if row.billing_model == BillingModel.MILESTONE:
                _seed_milestones(row, tally)
        if contract.not_to_exceed is not None and int(plan.number[-2:]) % 2 == 0:
            _seed_change_order(contract, tally)
        if _renews(contract, plan):
            _seed_renewal_terms(contract, tally)


def _seed_change_order(contract: Contract, tally: Counter) -> None:
    """Upsert an approved change order raising a capped contract's budget by a tenth."""
    increase = round_money(contract.not_to_exceed.amount / 10, contract.currency)
    _upsert(
        ChangeOrder,
        ChangeOrder.objects.filter(contract=contract, reference="CO-001").first(),
        {
            "contract": contract,
            "reference": "CO-001",
            "reason": "Additional data migration workstream requested by the customer.",
            "not_to_exceed_increase": increase,
            "cost_budget_increase": round_money(increase.amount / 2, contract.currency),
            "requested_by": "project.manager",
            "approved_by": "finance.controller",
            "approved_at": datetime(2026, 2, 16, 9, 30, tzinfo=UTC),
        },
        tally,
    )


# Renewal terms of the active fixed-term subscriptions, varied by contract number: most renew by
# themselves, uplifts from none to 5%, notice periods of one to three months. One customer has
# said it will not renew, so the worklist shows each decision.
RENEWAL_UPLIFTS = (Decimal("3.5"), Decimal(5), Decimal(0), Decimal(3))
RENEWAL_NOTICE_DAYS = (30, 60, 90)
NOT_RENEWING = {
    "DEMO-K0037": "Customer consolidates onto its parent company's licence at the term end."
}


def _renews(contract: Contract, plan: ContractPlan) -> bool:
    return (
        contract.status == ACTIVE
        and not contract.evergreen
        and any(line.values["billing_model"] == BillingModel.SUBSCRIPTION for line in plan.lines)
    )


def _seed_renewal_terms(contract: Contract, tally: Counter) -> None:
    """Upsert the renewal terms of an active fixed-term subscription contract."""
    n = int(contract.number[-2:])
    reason = NOT_RENEWING.get(contract.number, "")
    _upsert(
        RenewalTerms,
        RenewalTerms.objects.filter(contract=contract).first(),
        {
            "contract": contract,
            "auto_renew": n % 3 != 0,
            "term_months": 12,
            "uplift_percent": RENEWAL_UPLIFTS[n % len(RENEWAL_UPLIFTS)],
            "notice_days": RENEWAL_NOTICE_DAYS[n % len(RENEWAL_NOTICE_DAYS)],
            "decision": RenewalTerms.Decision.NOT_RENEWING if reason else "pending",
            "decision_reason": reason,
            "decided_by": "finance.controller" if reason else "",
            "decided_at": datetime(2026, 2, 20, 10, 0, tzinfo=UTC) if reason else None,
        },
        tally,
    )


# The demo's milestone schedule: (name, percent of the line's value, share of the service period
# elapsed when it is planned). The last milestone absorbs the rounding remainder.
DEMO_MILESTONES = [
    ("Design signed off", Decimal(30), Fraction(1, 3)),
    ("Build complete", Decimal(40), Fraction(2, 3)),
    ("Go-live accepted", Decimal(30), Fraction(1)),
]


def _seed_milestones(line: ContractLine, tally: Counter) -> None:
    """Upsert a 30/40/30 schedule on a milestone line, planned across its service period."""
    value = line.extended_amount
    amounts = spread(value, [percent for _, percent, _ in DEMO_MILESTONES])
    end = line.service_end or _add_months(line.service_start, 12)
    days = (end - line.service_start).days
    existing = {m.sequence: m for m in line.milestones.all()}
    for sequence, ((name, percent, elapsed), amount) in enumerate(
        zip(DEMO_MILESTONES, amounts, strict=True), start=1
    ):
        _upsert(
            Milestone,
            existing.get(sequence),
            {
                "line": line,
                "sequence": sequence,
                "name": name,
                "planned_date": line.service_start + timedelta(days=int(days * elapsed)),
                "percent": percent,
                "amount": amount,
            },
            tally,
        )


@dataclass(frozen=True)
class SeedResult:
    """How many rows a run created, updated and found already in place."""

    created: int
    updated: int
    unchanged: int


@transaction.atomic
def demo_book_seed(*, seed: int = SEED) -> SeedResult:
    """Build or refresh the demo book in one transaction; safe to run any number of times.

    Rows the book no longer plans (a line dropped from a shape) are left alone: the seed only
    creates and updates, it never deletes what someone may have added around the demo.
    """
    tally: Counter = Counter()
    terms = _seed_payment_terms(tally)
    products = _seed_products(tally)
    customers = _seed_customers(terms, tally)
    _seed_contracts(demo_book_plan(seed=seed), customers, products, tally)
    return SeedResult(tally["created"], tally["updated"], tally["unchanged"])


# --- Summary ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookSummary:
    """Counts over the demo book as stored, for the command's report."""

    customers: int
    customers_by_currency: dict[str, int]
    customers_on_hold: int
    products: int
    contracts: int
    contracts_by_status: dict[str, int]
    contracts_by_billing_model: dict[str, int]
    contracts_on_billing_hold: int
    contracts_on_delivery_hold: int
    contracts_on_hold: int


def _grouped(queryset: models.QuerySet, key: str, count: Count) -> dict[str, int]:
    """Count rows per value of ``key`` in the database, sorted by that value."""
    rows = queryset.order_by().values(key).annotate(n=count).order_by(key)
    return {row[key]: row["n"] for row in rows}


def demo_book_summary() -> BookSummary:
    """Count the demo book's rows in the database, grouped as the command reports them."""
    customers = Customer.objects.filter(number__in=[c.number for c in CUSTOMERS])
    contracts = Contract.objects.filter(number__in=[p.number for p in demo_book_plan()])
    lines = ContractLine.objects.filter(contract__in=contracts)
    on_hold = models.Q(billing_hold=True) | models.Q(delivery_hold=True)
    return BookSummary(
        customers=customers.count(),
        customers_by_currency=_grouped(customers, "currency", Count("id")),
        customers_on_hold=customers.filter(on_hold).count(),
        products=Product.objects.filter(sku__in=PRODUCTS_BY_SKU).count(),
        contracts=contracts.count(),
        contracts_by_status=_grouped(contracts, "status", Count("id")),
        contracts_by_billing_model=_grouped(
            lines, "billing_model", Count("contract", distinct=True)
        ),
        contracts_on_billing_hold=contracts.filter(billing_hold=True).count(),
        contracts_on_delivery_hold=contracts.filter(delivery_hold=True).count(),
        contracts_on_hold=contracts.filter(on_hold).count(),
    )
