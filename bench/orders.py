"""Order placement rate on PostgreSQL, with a check that no balance was overspent.

Measured once the commissary area is on main; until then the run says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.config import BenchConfig
    from bench.run import Prepared
    from bench.servers import Server

NEEDS = ("products", "orders", "ledger_entries")


def run(
    config: BenchConfig, prep: Prepared, server: Server, log: Callable[[str], None]
) -> dict[str, Any]:
    """Place orders as fast as the server takes them, then verify the ledger."""
    missing = [t for t in NEEDS if t not in prep.tables]
    if missing:
        return {
            "measured": False,
            "reason": "commissary not on main yet (no table " + ", ".join(missing) + ")",
        }
    return {"measured": False, "reason": "order benchmark not written yet"}
