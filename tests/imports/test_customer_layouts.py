"""Importing customers (with their billing contacts) and products: upserts, refusals, exports."""

import csv
import io
from decimal import Decimal

import pytest
from djmoney.money import Money

from contracts.imports.customers import CustomersLayout, parse_contacts
from contracts.imports.products import ProductsLayout
from contracts.models import BillingContact, Customer, Product
from imports.cells import CellError
from imports.engine import Mode, Status, import_csv
from imports.export import export_csv

pytestmark = pytest.mark.django_db

HEAD = "customer_number,legal_name,currency,payment_terms,delivery_method,billing_contacts\n"
PRODUCTS = "sku,name,ssp,ssp_currency,default_billing_model,revenue_policy,tax_rate,active\n"


def problems(report) -> list[str]:
    return [str(problem) for problem in report.problems]


def contacts_of(number: str) -> list[tuple[str, str]]:
    return list(
        BillingContact.objects.filter(customer__number=number)
        .order_by("email")
        .values_list("name", "email")
    )


@pytest.fixture
def terms(payment_terms_factory):
    """The payment terms the files name, as an installation sets them up."""
    payment_terms_factory(name="Net 45", days=45)
    payment_terms_factory(name="Due on receipt", basis="due_on_receipt", days=0)
    return payment_terms_factory(name="Net 30", days=30)


# --- Customers -----------------------------------------------------------------------------


def test_new_customers_are_created_with_their_contacts(terms):
    data = HEAD + (
        "ACME,Acme Corp,usd,net 30,email,Jane Doe <jane@acme.example>; ap@acme.example\n"
        "GLOBEX,Globex GmbH,EUR,Net 45,none,\n"
    )

    report = import_csv(CustomersLayout(), data.encode())

    assert problems(report) == []
    assert report.counts == {Status.NEW: 2}
    acme = Customer.objects.get(number="ACME")
    assert (acme.legal_name, acme.currency, acme.payment_terms) == ("Acme Corp", "USD", terms)
    assert contacts_of("ACME") == [("", "ap@acme.example"), ("Jane Doe", "jane@acme.example")]
    globex = Customer.objects.get(number="GLOBEX")
    assert (globex.delivery_method, globex.payment_terms.name) == ("none", "Net 45")
    assert contacts_of("GLOBEX") == []
    assert acme.history.get().history_type == "+"


def test_an_empty_cell_of_a_field_with_a_default_takes_the_default_on_a_new_customer(terms):
    head = "customer_number,legal_name,currency,payment_terms,delivery_method,locale,"
    head += "billing_contacts\n"
    data = head + "ACME,Acme,USD,Net 30,,,ap@a.example\n"

    report = import_csv(CustomersLayout(), data.encode())

    assert problems(report) == []
    acme = Customer.objects.get()
    assert (acme.delivery_method, acme.locale) == ("email", "en_US")


def test_a_second_import_of_the_same_file_changes_nothing(terms):
    data = HEAD + "ACME,Acme Corp,USD,Net 30,email,Jane Doe <jane@acme.example>; ap@acme.example\n"
    import_csv(CustomersLayout(), data.encode())

    report = import_csv(CustomersLayout(), data.encode())

    assert report.counts == {Status.UNCHANGED: 1}
    assert Customer.history.filter(history_type="~").count() == 0


def test_listed_contacts_replace_the_stored_ones_matched_by_email(
    terms, customer_factory, billing_contact_factory
):
    acme = customer_factory(number="ACME", legal_name="Acme Corp", payment_terms=terms)
    kept = billing_contact_factory(customer=acme, name="Jane", email="jane@acme.example")
    billing_contact_factory(customer=acme, name="Old", email="old@acme.example")
    data = HEAD + "ACME,Acme Corp,USD,Net 30,email,Jane Doe <jane@acme.example>; new@acme.example\n"

    report = import_csv(CustomersLayout(), data.encode())

    assert report.counts == {Status.UPDATED: 1}
    assert contacts_of("ACME") == [("Jane Doe", "jane@acme.example"), ("", "new@acme.example")]
    assert BillingContact.objects.get(email="jane@acme.example").pk == kept.pk
    # The customer's own fields did not change: no history record of a change.
    assert not Customer.history.filter(history_type="~").exists()


def test_a_file_without_the_contacts_column_leaves_the_contacts_alone(
    terms, customer_factory, billing_contact_factory
):
    acme = customer_factory(number="ACME", legal_name="Acme Corp", payment_terms=terms)
    billing_contact_factory(customer=acme, name="Jane", email="jane@acme.example")
    head = "customer_number,legal_name,currency,payment_terms,tax_rate\n"

    report = import_csv(CustomersLayout(), (head + "ACME,Acme Inc,USD,Net 30,7.25\n").encode())

    assert report.counts == {Status.UPDATED: 1}
    acme.refresh_from_db()
    assert (acme.legal_name, acme.tax_rate) == ("Acme Inc", Decimal("7.25"))
    assert contacts_of("ACME") == [("Jane", "jane@acme.example")]
    assert acme.history.filter(history_type="~").count() == 1


def test_invoices_delivered_by_email_need_a_billing_contact(terms, customer_factory):
    customer_factory(number="BARE", payment_terms=terms, delivery_method="none")
    data = HEAD + "ACME,Acme Corp,USD,Net 30,email,\nINITECH,Initech,USD,Net 30,none,\n"
    switch = "customer_number,legal_name,currency,payment_terms,delivery_method\n"
    switch += "BARE,Bare Ltd,USD,Net 30,email\n"

    report = import_csv(CustomersLayout(), data.encode())
    switched = import_csv(CustomersLayout(), switch.encode())

    rule = (
        "Invoices are delivered by email: add at least one billing contact, or set the "
        "delivery method to none."
    )
    assert problems(report) == [f"Row 2, column billing_contacts: {rule}"]
    assert problems(switched) == [f"Row 2, column delivery_method: {rule}"]
    assert Customer.objects.get(number="BARE").delivery_method == "none"


def test_every_bad_cell_is_named_by_row_and_column(terms):
    data = HEAD + (
        "C-1,One,USD,Net 60,email,a@x.example\n"
        "C-2,Two,US$,Net 30,post,a@x.example\n"
        "C-3,Three,USD,Net 30,email,Jane Doe jane@x.example\n"
        "C-4,Four,USD,Net 30,email,a@x.example; A <a@x.example>\n"
        "C-1,Again,USD,Net 30,email,a@x.example\n"
    )
    more = "customer_number,legal_name,currency,payment_terms,tax_rate,country,locale\n"
    more += "C-5,Five,USD,Net 30,120,1X,xx_YY\n"

    report = import_csv(CustomersLayout(), data.encode())
    other = import_csv(CustomersLayout(), more.encode())

    assert problems(report) == [
        "Row 2, column payment_terms: no payment terms are called Net 60; the terms are: "
        "Due on receipt, Net 30, Net 45.",
        "Row 3, column currency: US$ is not an ISO 4217 currency code (e.g. USD, EUR).",
        "Row 3, column delivery_method: post is not one of: email, none.",
        "Row 4, column billing_contacts: Jane Doe jane@x.example is not an email address; write "
        "each contact as Name <email> or as the email alone, separated by ;.",
        "Row 5, column billing_contacts: a@x.example is listed twice.",
        "Row 6, column customer_number: repeats the customer_number of row 2.",
    ]
    assert problems(other) == [
        "Row 2, column locale: 'xx_YY' is not a known locale; use e.g. en_US or de_DE.",
        "Row 2, column tax_rate: Ensure this value is less than or equal to 100.",
        "Row 2, column country: Use the two-letter ISO code, e.g. US or DE.",
        "Row 2, column delivery_method: Invoices are delivered by email: add at least one "
        "billing contact, or set the delivery method to none.",
    ]
    assert not Customer.objects.exists()


def test_keep_good_rows_imports_the_good_customers_and_returns_the_bad_ones(terms):
    data = HEAD + "GOOD,Good Co,USD,Net 30,none,\nBAD,Bad Co,USD,Net 99,none,\n"

    all_or_nothing = import_csv(CustomersLayout(), data.encode())
    assert not all_or_nothing.imported
    assert not Customer.objects.exists()

    report = import_csv(CustomersLayout(), data.encode(), mode=Mode.KEEP_GOOD_ROWS)

    assert report.counts == {Status.NEW: 1, Status.ERROR: 1}
    assert list(Customer.objects.values_list("number", flat=True)) == ["GOOD"]
    bad = list(csv.DictReader(io.StringIO(report.errors_csv())))
    assert [(row["customer_number"], row["errors"]) for row in bad] == [
        (
            "BAD",
            "Row 3, column payment_terms: no payment terms are called Net 99; the terms are: "
            "Due on receipt, Net 30, Net 45.",
        )
    ]


def test_contact_names_that_need_quoting_survive_an_export_and_import(
    terms, customer_factory, billing_contact_factory
):
    acme = customer_factory(number="ACME", legal_name="Acme Corp", payment_terms=terms)
    billing_contact_factory(customer=acme, name='Smith; "Jones"', email="sj@acme.example")
    billing_contact_factory(customer=acme, name="", email="ap@acme.example")
    billing_contact_factory(customer=acme, name="Jana Krüger", email="jk@acme.example")
    customer_factory(number="GLOBEX", currency="EUR", payment_terms=terms, delivery_method="none")

    exported = export_csv(CustomersLayout(), Customer.objects.all())

    rows = list(csv.DictReader(io.StringIO(exported)))
    assert rows[0]["billing_contacts"] == (
        'ap@acme.example; Jana Krüger <jk@acme.example>; "Smith; ""Jones""" <sj@acme.example>'
    )
    assert rows[0]["payment_terms"] == "Net 30"
    assert rows[1]["billing_contacts"] == ""
    report = import_csv(CustomersLayout(), exported.encode())
    assert problems(report) == []
    assert report.counts == {Status.UNCHANGED: 2}


def test_a_contacts_cell_reads_names_emails_and_line_breaks():
    cell = 'Jane Doe <jane@x.example>\nap@x.example;; "Smith; Jones" <sj@x.example>'

    assert parse_contacts(cell) == (
        ("Jane Doe", "jane@x.example"),
        ("", "ap@x.example"),
        ("Smith; Jones", "sj@x.example"),
    )
    with pytest.raises(CellError, match=r"^<> is not an email address"):
        parse_contacts("<>")


@pytest.mark.parametrize("count", [10, 100])
def test_a_chunk_of_customers_costs_the_same_queries_for_ten_rows_as_for_a_hundred(
    terms, customer_factory, billing_contact_factory, django_assert_max_num_queries, count
):
    """Half the rows update stored customers (new name, one contact swapped), half are new."""
    for n in range(count // 2):
        customer = customer_factory(number=f"C-{n}", payment_terms=terms)
        billing_contact_factory(customer=customer, email=f"old{n}@x.example")
    rows = [f"C-{n},Customer {n},USD,Net 30,email,Jane <jane{n}@x.example>\n" for n in range(count)]

    # 3 lookups (terms, customers, contacts); insert, history, update, history of customers;
    # delete and insert of contacts; 3 savepoints and their releases. One row more or less
    # costs no query; SQLite splits the insert of 100 customers in two (999 parameters).
    with django_assert_max_num_queries(16):
        report = import_csv(CustomersLayout(), (HEAD + "".join(rows)).encode())

    assert report.counts == {Status.UPDATED: count // 2, Status.NEW: count // 2}
    assert contacts_of("C-1") == [("Jane", "jane1@x.example")]


# --- Products ------------------------------------------------------------------------------


def test_products_are_created_updated_and_left_unchanged():
    first = PRODUCTS + (
        "PLAT-SUB,Platform subscription,40.00,USD,subscription,ratable,,\n"
        "ONBOARD,Onboarding workshop,5000,usd,one_time,point_in_time,0,true\n"
    )
    created = import_csv(ProductsLayout(), first.encode())
    second = PRODUCTS + (
        "PLAT-SUB,Platform subscription,42.50,USD,subscription,ratable,,\n"
        "ONBOARD,Onboarding workshop,5000.00,USD,one_time,point_in_time,0,yes\n"
    )

    updated = import_csv(ProductsLayout(), second.encode())

    assert problems(created) == []
    assert created.counts == {Status.NEW: 2}
    assert updated.counts == {Status.UPDATED: 1, Status.UNCHANGED: 1}
    platform = Product.objects.get(sku="PLAT-SUB")
    assert (platform.ssp, platform.tax_rate, platform.active) == (Money("42.50", "USD"), None, True)
    assert platform.unit_of_measure == "unit"  # no column: a new product's default
    onboard = Product.objects.get(sku="ONBOARD")
    assert (onboard.tax_rate, onboard.default_billing_model) == (Decimal(0), "one_time")


def test_a_product_row_is_refused_naming_each_bad_cell():
    data = PRODUCTS + (
        "A,Alpha,-5,USD,subscription,ratable,,\n"
        "B,Beta,10.123456,USD,rental,ratable,,\n"
        "C,Gamma,10,XYZ,usage,as_consumed,101,maybe\n"
        "D,,10,USD,usage,as_consumed,,\n"
    )

    report = import_csv(ProductsLayout(), data.encode())

    assert problems(report) == [
        "Row 2, column ssp: -5 cannot be negative.",
        "Row 3, column ssp: 10.123456 has more than 4 decimal places.",
        "Row 3, column default_billing_model: rental is not one of: subscription, usage, "
        "one_time, milestone.",
        "Row 4, column ssp_currency: XYZ is not an ISO 4217 currency code (e.g. USD, EUR).",
        "Row 4, column active: maybe is not yes or no (use true/false, yes/no or 1/0).",
        "Row 5, column name: is empty; it is required.",
    ]
    assert not Product.objects.exists()


def test_a_tax_rate_above_a_hundred_percent_is_refused_by_the_model_rule():
    data = PRODUCTS + "A,Alpha,5,USD,subscription,ratable,100.5,\n"

    report = import_csv(ProductsLayout(), data.encode())

    assert problems(report) == [
        "Row 2, column tax_rate: Ensure this value is less than or equal to 100."
    ]


def test_products_export_and_import_back_as_no_change(product_factory):
    product_factory(sku="EU-1", ssp=Money("42.0000", "EUR"), tax_rate=Decimal("19.0000"))
    product_factory(sku="=CMD", description="line one\nline two", active=False)

    exported = export_csv(ProductsLayout(), Product.objects.all())

    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["sku"], r["ssp"], r["ssp_currency"], r["tax_rate"], r["active"]) for r in rows] == [
        ("'=CMD", "100", "USD", "", "false"),
        ("EU-1", "42", "EUR", "19", "true"),
    ]
    report = import_csv(ProductsLayout(), exported.encode())
    assert problems(report) == []
    assert report.counts == {Status.UNCHANGED: 2}


@pytest.mark.parametrize("count", [10, 100])
def test_a_chunk_of_products_costs_the_same_queries_for_ten_rows_as_for_a_hundred(
    product_factory, django_assert_max_num_queries, count
):
    for n in range(count // 2):
        product_factory(sku=f"P-{n}")
    rows = [f"P-{n},Product {n},12.00,USD,usage,as_consumed,,\n" for n in range(count)]

    # 1 lookup; insert and update; 3 savepoints and their releases.
    with django_assert_max_num_queries(9):
        report = import_csv(ProductsLayout(), (PRODUCTS + "".join(rows)).encode())

    assert report.counts == {Status.UPDATED: count // 2, Status.NEW: count // 2}
