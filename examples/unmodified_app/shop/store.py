import json
import os


class Settings:
    def __init__(self, retries=3, charge_timeout=0.1):
        self.retries = retries
        self.charge_timeout = charge_timeout

    @classmethod
    def load(cls, path="shop-settings.json"):
        if os.path.exists(path):
            with open(path) as fh:
                return cls(**json.load(fh))
        return cls(retries=4, charge_timeout=0.1)


class Inventory:
    def __init__(self):
        self.stock = {"apple": 1000, "pear": 1000, "plum": 1000}

    def reserve(self, sku, qty):
        if self.stock[sku] < qty:
            raise ValueError(f"out of {sku}")
        self.stock[sku] -= qty
        return True
