"""Ponte agent: runs beside a VNC server on an office PC and dials out to the gateway.

Also ships ``forward``, which lets any native VNC viewer (or vncdotool) use a
gateway from a laptop. Pure Python with threads; no gevent.
"""

__version__ = "0.1.0"
