"""The error pages in Ponte's words and layout (issue 13): a heading that says what happened,
the reason, the status, a way back; in the page's language. Under /api/ the same errors are
JSON ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import pytest

from gateway import ops

IT = {"Accept-Language": "it"}


def _boom():
    raise RuntimeError("a bug")


@pytest.fixture
def broken(app):
    """A page whose code fails: what a bug on any page looks like to the person."""
    app.add_url_rule("/boom", "boom", _boom)
    app.add_url_rule("/api/v1/boom", "api_boom", _boom)
    return app


@pytest.mark.parametrize(("path", "status", "english", "italian"), [
    ("/no-such-page", 404, "Page not found", "Pagina non trovata"),
    ("/logout", 405, "Not possible here", "Non si può fare qui"),
    ("/admin/", 403, "No access", "Accesso non consentito"),
    ("/boom", 500, "Something went wrong", "Qualcosa non ha funzionato"),
])
def test_error_pages_say_what_happened_and_lead_back(broken, client, users, login, path, status, english, italian):
    login("emp")
    for headers, heading, back in (({}, english, "Back to your PCs"), (IT, italian, "Torna ai tuoi PC")):
        resp = client.get(path, headers=headers)
        html = resp.get_data(as_text=True)
        assert resp.status_code == status, path
        assert f"<h1>{heading}</h1>" in html and f"<title>{heading} · Ponte</title>" in html
        assert str(status) in html and 'href="/"' in html and back in html
        assert 'class="top"' in html   # the product's own layout, with its navigation


def test_an_error_page_before_login_offers_the_login(client, users):
    html = client.get("/no-such-page", headers=IT).get_data(as_text=True)
    assert "<h1>Pagina non trovata</h1>" in html and 'href="/login"' in html


@pytest.mark.parametrize(("path", "method", "status", "code"), [
    ("/api/v1/no-such-thing", "get", 404, "not_found"),
    ("/api/v1/me/machines", "delete", 405, "method_not_allowed"),
    ("/api/v1/users", "get", 403, "forbidden"),
    ("/api/v1/boom", "get", 500, "internal_error"),
])
def test_api_errors_are_json(broken, client, users, login, path, method, status, code):
    login("emp")
    resp = getattr(client, method)(path, headers={**IT, "X-CSRFToken": "x"})
    assert resp.status_code == status and resp.mimetype == "application/json"
    error = resp.get_json()["error"]
    assert error["code"] == code and error["message"]


def test_an_admin_without_pcs_is_told_why_and_where_to_grant_one(app, client, users, login):
    login("boss")
    with app.app_context():
        boss_id = ops.get_user("boss").id
    html = client.get("/", headers=IT).get_data(as_text=True)
    assert "Si rivolga" not in html and "Si assegni un PC" in html and f'href="/admin/users/{boss_id}"' in html
    assert "Ask your admin" not in client.get("/").get_data(as_text=True)
