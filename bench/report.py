"""Figures → rows with ratios, the targets of issue 3, a text table and JSON."""

from __future__ import annotations

import json
import math

PATHS = ("raw", "websockify", "ponte")


def row(key: str, label: str, unit: str, values: dict, better: str = "") -> dict:
    r = {"key": key, "label": label, "unit": unit, **{p: values.get(p) for p in PATHS}}
    ponte, wsk, raw = values.get("ponte"), values.get("websockify"), values.get("raw")
    r["ponte/websockify"] = _ratio(ponte, wsk)
    r["ponte/raw"] = _ratio(ponte, raw)
    r["websockify/raw"] = _ratio(wsk, raw)
    if better:
        r["better"] = better
    return r


def _ratio(a, b):
    if a is None or b is None or not b or (isinstance(a, float) and math.isnan(a)):
        return None
    return a / b


def targets(rows: dict, levels: list[int], agent_counts: list[int]) -> list[dict]:
    top = max(levels)
    most = max(agent_counts)
    tp = rows["throughput_mbps"]
    p50 = rows["rtt_idle_p50_ms"]
    conc = rows[f"concurrent_{top}_rtt_p99_ms"]
    errs = rows[f"concurrent_{top}_errors"]
    idle = rows[f"idle_agent_rss_kb_{most}"]
    fb = rows["first_byte_ms"]
    added = None if p50["ponte"] is None or p50["websockify"] is None else p50["ponte"] - p50["websockify"]
    return [
        _target("single-stream throughput ≥ 1.0× websockify", tp["ponte/websockify"], ">=", 1.0, "×"),
        _target("added RTT p50 over websockify ≤ 0.5 ms", added, "<=", 0.5, "ms"),
        _target(f"{top} concurrent streams: RTT p99 ≤ 50 ms", conc["ponte"], "<=", 50.0, "ms"),
        _target(f"{top} concurrent streams: no errors", errs["ponte"], "<=", 0, ""),
        _target(f"idle agents ({most}): ≤ 100 KB gateway RSS each", idle["ponte"], "<=", 100.0, "KB"),
        _target("ticket → first byte median ≤ 50 ms", fb["ponte"], "<=", 50.0, "ms"),
    ]


def _target(name: str, value, op: str, limit: float, unit: str) -> dict:
    met = None if value is None else (value >= limit if op == ">=" else value <= limit)
    return {"target": name, "value": value, "limit": limit, "op": op, "unit": unit, "met": met}


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"


def table(rows: list[dict], goals: list[dict]) -> str:
    head = ["figure", "unit", "(a) raw", "(b) websockify", "(c) Ponte", "c/b", "c/a"]
    body = [[r["label"], r["unit"], _fmt(r["raw"]), _fmt(r["websockify"]), _fmt(r["ponte"]),
             _ratio_fmt(r["ponte/websockify"]), _ratio_fmt(r["ponte/raw"])] for r in rows]
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    lines = ["| " + " | ".join(h.ljust(widths[i]) for i, h in enumerate(head)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for cells in body:
        lines.append("| " + " | ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                                       for i, c in enumerate(cells)) + " |")
    lines.append("")
    lines.append("| target (issue 3) | Ponte | met |")
    lines.append("|---|---|---|")
    for g in goals:
        value = "–" if g["value"] is None else f"{_fmt(g['value'])} {g['unit']}".strip()
        lines.append(f"| {g['target']} | {value} | {'yes' if g['met'] else ('no' if g['met'] is False else '–')} |")
    return "\n".join(lines)


def _ratio_fmt(value) -> str:
    return "–" if value is None else f"{value:.2f}×"


def write_json(path, data: dict) -> None:
    with open(path, "w") as fh:
        json.dump(data, fh, indent=2, default=str)
        fh.write("\n")
