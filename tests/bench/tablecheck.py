"""The suites' quick runs also feed ``bench table``'s reading of their JSON (``rows_of``), so a
suite that renames a figure breaks the table's test, not a three-run sitting an hour in."""

from __future__ import annotations

import math

from bench import table


def assert_table_reads(suite: str, data: dict) -> list[dict]:
    rows = table.rows_of(suite, data)
    assert rows, suite
    for row in rows:
        value = row["value"]
        assert isinstance(value, (int, float)) and not math.isnan(value), (suite, row)
    return rows
