PRICES = {"apple": 3, "pear": 4, "plum": 5}


def total(items):
    return sum(PRICES[sku] * qty for sku, qty in items)
