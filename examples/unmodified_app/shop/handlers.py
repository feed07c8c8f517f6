import asyncio

from shop.pricing import total  # a reference taken at import time

HANDLERS = {}


def handler(name):
    def register(func):
        HANDLERS[name] = func  # the registry keeps the function object itself
        return func

    return register


class Stats:
    def __init__(self):
        self.retries = 0
        self.timeouts = 0
        self.recomputed = 0
        self.failed = 0
        self.ok = 0


@handler("order")
def place_order(order_id, items, inventory, gateway, settings, stats):
    for sku, qty in items:
        for _attempt in range(settings.retries):
            try:
                inventory.reserve(sku, qty)
                break
            except ConnectionError:
                stats.retries += 1
        else:
            stats.failed += 1
            return None
    amount = total(items)
    if amount <= 0:  # sanity check: a zero total cannot be right
        stats.recomputed += 1
        amount = total(items)
    for _attempt in range(settings.retries):
        try:
            return asyncio.run(
                asyncio.wait_for(gateway.charge(order_id, amount), settings.charge_timeout)
            )
        except TimeoutError:
            stats.timeouts += 1
    stats.failed += 1
    return None
