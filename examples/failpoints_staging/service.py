"""A small order service with failpoints left in the code, as it would run in staging.

Run on its own it just places orders. Faults are switched on from outside:

    CHAOSKIT_FAILPOINTS='orders/save-error=2*raise(OSError, 28)' python service.py
    CHAOSKIT_FAILPOINTS_HTTP=127.0.0.1:0 python service.py --serve   # see main.py

It prints one JSON summary line when it finishes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

from chaoskit.failpoints import failpoint, sources


class OrderStore:
    def __init__(self) -> None:
        self.rows: dict[int, float] = {}

    @failpoint("orders/save-error")
    def save(self, order_id: int, amount: float) -> bool:
        self.rows[order_id] = amount
        return True


def charge(order_id: int, amount: float) -> str:
    # An inline failpoint: returns the value of a fired return(...) and None otherwise.
    forced = failpoint.inject("payments/charge-result")
    if forced is not None:
        return str(forced)
    return "ok"


def place_order(store: OrderStore, order_id: int, amount: float, retries: int = 2) -> str:
    for attempt in range(retries + 1):
        try:
            result = charge(order_id, amount)
            if result != "ok":
                return f"payment {result}"
            store.save(order_id, amount)
            return "ok"
        except OSError:
            if attempt == retries:
                return "save failed"
    return "unreachable"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10, help="orders to place (batch mode)")
    parser.add_argument("--serve", action="store_true", help="run until told to stop over HTTP")
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)

    store = OrderStore()
    outcomes: Counter[str] = Counter()
    if args.serve:
        server = sources.started().get("http")
        if server is None:
            print("--serve needs CHAOSKIT_FAILPOINTS_HTTP", file=sys.stderr)
            return 2
        print(f"READY {server.url}", flush=True)
    deadline = time.monotonic() + args.max_seconds
    order_id = 0
    while time.monotonic() < deadline:
        if args.serve:
            # The operator stops the service with PUT /service/stop  "return(true)".
            if failpoint.inject("service/stop"):
                break
        elif order_id >= args.orders:
            break
        order_id += 1
        outcomes[place_order(store, order_id, 10.0 * order_id)] += 1
        if args.serve:
            time.sleep(args.interval)
    summary = {
        "orders": order_id,
        "outcomes": dict(sorted(outcomes.items())),
        "stored": len(store.rows),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
