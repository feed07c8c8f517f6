import asyncio


class Gateway:
    def __init__(self):
        self.charged = []

    async def charge(self, order_id, amount):
        await asyncio.sleep(0.001)
        self.charged.append((order_id, amount))
        return f"receipt-{order_id}"
