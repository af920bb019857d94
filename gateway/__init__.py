"""Ponte gateway: Flask app factory.

The app serves pages, the JSON API and the WebSocket routes; ``gateway.ws.server``
runs it in one gevent process. Exceptions of this package::

    ConfigError (config)          bad settings
    LiveStoreError (live)         Redis unreachable
    RelayError (ws.relay)         a session could not be set up
"""


def create_app(config=None):
    """Build the gateway app (see ``gateway.app.create_app``).

    Imported lazily so that ``python -m gateway serve`` can let gevent patch
    the standard library before Flask, redis or ssl are imported.
    """
    from .app import create_app as build

    return build(config)
