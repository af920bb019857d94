"""Driving the gateway's pages through Flask's test client as a person would: the login form,
its CSRF token, the passwords of the ``users`` fixture."""

from __future__ import annotations

import re

#: The passwords of the people the ``users`` fixture makes (tests/conftest.py).
PASSWORDS = {"boss": "bosspass1", "emp": "emppass12", "other": "otherpass1"}


def csrf_from(html: str) -> str:
    """The CSRF token a page carries (a form field or the ``csrf-token`` meta tag)."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf-token" content="([^"]+)"', html) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


class AuthActions:
    """flaskr-style helper: log in and out through the real form (with CSRF)."""

    def __init__(self, client, login_path: str = "/login"):
        self.client = client
        self.csrf = None
        self.login_path = login_path   # a firm's own: /o/<slug>/login (issue 17)

    def login(self, name: str, password: str, follow: bool = False):
        page = self.client.get(self.login_path).get_data(as_text=True)
        resp = self.client.post(self.login_path, data={"csrf_token": csrf_from(page), "name": name, "password": password},
                                follow_redirects=follow)
        if resp.status_code == 302:
            self.csrf = csrf_from(self.client.get("/").get_data(as_text=True))
        return resp

    def logout(self):
        return self.client.post("/logout", data={"csrf_token": self.csrf})

    def headers(self) -> dict:
        return {"X-CSRFToken": self.csrf or ""}
