"""An OpenID provider of the tests' own, to hand the gateway ID tokens it should refuse.

The real provider (``oidc_provider.py``, node's ``oidc-provider``) only issues good tokens. This
one serves a discovery document, its JWKS (an RSA key made here) and a token endpoint that
answers the authorisation code with whatever ID token the test crafted (joserfc, the JOSE library
Authlib itself uses), so each check of the gateway's callback can be shown to refuse its defect.
It runs on loopback in a thread (``http.server``), stopped with ``stop()``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID, CLIENT_SECRET = "ponte-crafted", "crafted-secret-0123456789"
KID = "issuer-key-1"


def new_key(kid: str = KID) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class TokenIssuer:
    key: RSAKey = field(default_factory=new_key)
    next_id_token: str = ""          # what the token endpoint answers with next ("": none)
    token_requests: list = field(default_factory=list)

    def start(self) -> TokenIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):   # quiet: the test output is for the test
                pass

            def _json(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    self._json(issuer.discovery())
                elif self.path == "/jwks":
                    self._json({"keys": [issuer.key.as_dict(private=False)]})
                else:
                    self.send_error(404)

            def do_POST(self):
                if self.path != "/token":
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                issuer.token_requests.append(self.rfile.read(length).decode())
                answer = {"access_token": "crafted-access", "token_type": "Bearer", "expires_in": 300}
                if issuer.next_id_token:   # empty: an answer with no ID token at all
                    answer["id_token"] = issuer.next_id_token
                self._json(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def discovery(self) -> dict:
        return {"issuer": self.url, "authorization_endpoint": self.url + "/auth",
                "token_endpoint": self.url + "/token", "jwks_uri": self.url + "/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"]}

    def settings(self, **changes) -> dict:
        return {"oidc_issuer": self.url, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET,
                "oidc_create_users": True, **changes}

    def claims(self, nonce: str, **changes) -> dict:
        """Claims of a good ID token for ``alice``; ``changes`` spoil one (``None`` drops it)."""
        now = int(time.time())
        values = {"iss": self.url, "sub": "alice-sub", "aud": CLIENT_ID, "exp": now + 300, "iat": now,
                  "nonce": nonce, "preferred_username": "alice", "email": "alice@example.test"}
        values.update(changes)
        return {k: v for k, v in values.items() if v is not None}

    def sign(self, claims: dict, key: RSAKey | None = None) -> str:
        return jwt.encode({"alg": "RS256", "kid": KID}, claims, key or self.key)
