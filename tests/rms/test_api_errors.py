"""The API's one error shape: nested DRF errors flattened to field paths a client can act on."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound, ValidationError

from rms.api_errors import api_exception_handler, field_messages


def test_nested_errors_become_paths_with_list_indexes():
    detail = {
        "customer": ["This field is required."],
        "lines": [{}, {"unit_price": {"amount": ["A valid number is required."]}}],
        "milestones": {"0": {"amount": {"non_field_errors": ["Expected a dictionary."]}}},
        "non_field_errors": ["Send either a template or milestones, not both."],
    }

    assert field_messages(detail) == {
        "customer": ["This field is required."],
        "lines[1].unit_price.amount": ["A valid number is required."],
        "milestones[0].amount": ["Expected a dictionary."],
        "non_field_errors": ["Send either a template or milestones, not both."],
    }


def test_a_service_refusal_is_a_400_naming_its_field():
    refusal = DjangoValidationError({"achieved_on": "2027-01-01 is in the future."})

    response = api_exception_handler(refusal, {})

    assert response.status_code == 400
    assert response.data == {
        "type": "validation_error",
        "detail": "achieved_on: 2027-01-01 is in the future.",
        "fields": {"achieved_on": ["2027-01-01 is in the future."]},
    }


def test_a_message_with_no_field_is_the_detail_itself():
    response = api_exception_handler(ValidationError("Send a usage record."), {})

    assert response.data["detail"] == "Send a usage record."
    assert response.data["fields"] == {"non_field_errors": ["Send a usage record."]}


def test_other_errors_keep_their_status_with_empty_fields():
    response = api_exception_handler(NotFound("No contract 7."), {})

    assert response.status_code == 404
    assert response.data == {"type": "not_found", "detail": "No contract 7.", "fields": {}}
