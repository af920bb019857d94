"""The API's one way of reporting errors: every refusal is ``{"error": {"code", "message"}}``
with its status, whether a view, the authentication step or an operation refused."""

from __future__ import annotations

import pytest

from tests.support.records import session_ref


def error_of(resp) -> tuple[int, str, str]:
    body = resp.get_json()
    assert resp.mimetype == "application/json" and set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return resp.status_code, body["error"]["code"], body["error"]["message"]


def test_no_login_is_401(client):
    assert error_of(client.get("/api/v1/me")) == (401, "unauthorized", "Log in or send a valid API token.")


@pytest.mark.parametrize("body, expected", [
    ({"hostname": "pc"}, (400, "bad_request", 'Send JSON {"code": "..."}.')),
    ({"code": "NOPE-NOPE"}, (403, "enrolment_refused",
                             "This enrolment code is unknown, used or expired. Ask your admin for a new one.")),
])
def test_enrolment_refusals(client, body, expected):
    assert error_of(client.post("/api/v1/enroll", json=body)) == expected


def test_the_employee_api_refuses_in_the_same_shape(client, users, login):
    auth = login("emp")
    assert error_of(client.post("/api/v1/machines/desk-2/sessions", headers=auth.headers())) == \
        (403, "forbidden", "You may not open this PC.")
    assert error_of(client.get("/api/v1/sessions/not-a-session")) == (404, "not_found", "No such session.")
    assert error_of(client.delete(f"/api/v1/sessions/{session_ref('none')}", headers=auth.headers())) == \
        (404, "not_found", "No such live session.")
    assert error_of(client.get("/api/v1/users")) == (403, "forbidden", "Admins only.")


def test_operation_refusals_are_translated(client, users, login):
    auth = login("boss")
    assert error_of(client.get("/api/v1/users/nobody")) == (404, "not_found", "No user 'nobody'.")
    assert error_of(client.post("/api/v1/groups", json={"name": "1234"}, headers=auth.headers())) == \
        (400, "invalid", "A group name cannot be only digits (those are ids).")
    assert error_of(client.patch("/api/v1/machines/desk-2", json={"name": "desk-1"}, headers=auth.headers())) == \
        (409, "conflict", "Machine 'desk-1' exists already.")
    assert error_of(client.patch("/api/v1/users/emp", json={"colour": "red"}, headers=auth.headers())) == \
        (400, "bad_request", "Unknown fields: colour.")
