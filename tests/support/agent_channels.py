"""Agent channels for hub tests, welcomed as ``gateway.ws.agent_control`` leaves them."""

from __future__ import annotations

from agents.protocol import control


def welcomed_connection(machine_name: str, heartbeat: float = 20.0) -> control.GatewayConnection:
    """The gateway's side of a control conversation past its hello and welcome."""
    conn = control.GatewayConnection()
    conn.receive(control.encode(control.Hello(credential="1.secret", info=control.AgentInfo())))
    conn.send(control.Welcome(machine=machine_name, heartbeat=heartbeat))
    return conn


def open_channel(machine_id: int, ws):
    """An ``AgentChannel`` for machine ``pc-<id>`` on ``ws``, its conversation open."""
    from gateway.hub import AgentChannel

    name = f"pc-{machine_id}"
    return AgentChannel(machine_id, name, ws, welcomed_connection(name))
