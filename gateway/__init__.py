"""Ponte gateway: Flask app factory.

The app (``gateway.app``) serves pages, the JSON API and the WebSocket
routes (``gateway.ws``); ``gateway.server`` runs it in one gevent process
(``python -m gateway serve``). Its exceptions are drawn once, in
``gateway.errors`` (root ``GatewayError``).
"""


def create_app(config=None):
    """Build the gateway app (see ``gateway.app.create_app``).

    Imported lazily so that ``python -m gateway serve`` can let gevent patch
    the standard library before Flask, redis or ssl are imported.
    """
    from .app import create_app as build

    return build(config)
