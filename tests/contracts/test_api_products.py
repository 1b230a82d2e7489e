"""The products API: the catalog read, created and changed, with its SSP as money."""

import pytest
from djmoney.money import Money
from rest_framework.test import APIClient

from contracts.models import Product

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"


@pytest.fixture
def catalog_admin(token_client) -> APIClient:
    return token_client("catalog", "view_product", "add_product", "change_product")


@pytest.fixture
def api_calls() -> dict:
    return {
        "sku": "API-CALLS",
        "name": "API calls",
        "ssp": {"amount": "0.0035", "currency": "USD"},
        "unit_of_measure": "call",
        "default_billing_model": "usage",
        "revenue_policy": "as_consumed",
    }


def fields(response) -> dict:
    assert response.status_code == 400, response.json()
    return response.json()["fields"]


def test_create_keeps_a_fine_unit_price_exact(catalog_admin, api_calls):
    response = catalog_admin.post(PRODUCTS, api_calls, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["ssp"] == {"amount": "0.0035", "currency": "USD"}
    assert Product.objects.get(sku="API-CALLS").ssp == Money("0.0035", "USD")


def test_whole_amounts_read_back_on_the_minor_unit(catalog_admin, product_factory):
    product = product_factory(ssp=Money(1200, "USD"), tax_rate=None)

    body = catalog_admin.get(f"{PRODUCTS}{product.pk}/").json()

    assert body["ssp"] == {"amount": "1200.00", "currency": "USD"}
    assert body["tax_rate"] is None


@pytest.mark.parametrize(
    ("ssp", "field"),
    [
        ({"amount": "-1", "currency": "USD"}, "ssp"),
        ({"amount": "1.00001", "currency": "USD"}, "ssp.amount"),
        ({"amount": "1", "currency": "XYZ"}, "ssp.currency"),
        ({"amount": "1"}, "ssp.currency"),
        ("100 USD", "ssp"),
    ],
)
def test_bad_money_is_named(catalog_admin, api_calls, ssp, field):
    response = catalog_admin.post(PRODUCTS, {**api_calls, "ssp": ssp}, format="json")

    assert field in fields(response)
    assert not Product.objects.exists()


def test_retire_a_product(catalog_admin, product):
    response = catalog_admin.patch(f"{PRODUCTS}{product.pk}/", {"active": False}, format="json")

    assert response.status_code == 200, response.json()
    product.refresh_from_db()
    assert not product.active


def test_a_new_ssp_may_change_currency(catalog_admin, product):
    body = {"ssp": {"amount": "90", "currency": "EUR"}}

    response = catalog_admin.patch(f"{PRODUCTS}{product.pk}/", body, format="json")

    assert response.json()["ssp"] == {"amount": "90.00", "currency": "EUR"}


def test_filters(catalog_admin, product_factory):
    product_factory(sku="A", name="Seats", ssp=Money(10, "EUR"))
    product_factory(sku="B", name="Onboarding", default_billing_model="one_time", active=False)

    def skus(query: str) -> list[str]:
        response = catalog_admin.get(f"{PRODUCTS}?{query}")
        assert response.status_code == 200, response.json()
        return [row["sku"] for row in response.json()["results"]]

    assert skus("name=seat") == ["A"]
    assert skus("currency=EUR") == ["A"]
    assert skus("active=false") == ["B"]
    assert skus("default_billing_model=one_time") == ["B"]
    assert skus("ordering=-sku") == ["B", "A"]


@pytest.mark.parametrize(
    ("codenames", "allowed"),
    [(("view_product",), False), (("view_product", "add_product"), True)],
)
def test_creating_needs_the_add_permission(token_client, api_calls, codenames, allowed):
    client = token_client("caller", *codenames)

    response = client.post(PRODUCTS, api_calls, format="json")

    assert response.status_code == (201 if allowed else 403)


def test_changing_needs_the_change_permission(token_client, product):
    client = token_client("caller", "view_product", "add_product")

    response = client.patch(f"{PRODUCTS}{product.pk}/", {"name": "x"}, format="json")

    assert response.status_code == 403


def test_reading_needs_the_view_permission(token_client, product):
    assert token_client("nobody").get(PRODUCTS).status_code == 403


def test_money_in_another_shape_is_told_the_shape(catalog_admin, api_calls):
    response = catalog_admin.post(PRODUCTS, {**api_calls, "ssp": "100 USD"}, format="json")

    assert fields(response)["ssp"] == ['Send money as {"amount": "123.45", "currency": "USD"}.']
