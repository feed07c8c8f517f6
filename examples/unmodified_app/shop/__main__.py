import subprocess
import sys

from shop.handlers import HANDLERS, Stats
from shop.payments import Gateway
from shop.store import Inventory, Settings


def main(argv):
    count = int(argv[0]) if argv else 10
    try:
        settings = Settings.load()
    except OSError:
        print("settings unavailable, using defaults")
        settings = Settings()
    inventory, gateway, stats = Inventory(), Gateway(), Stats()
    place = HANDLERS["order"]
    for i in range(count):
        items = [("apple", 1 + i % 3), ("pear", 1)]
        if place(i, items, inventory, gateway, settings, stats) is not None:
            stats.ok += 1
    print(
        f"orders ok={stats.ok} failed={stats.failed} retries={stats.retries} "
        f"timeouts={stats.timeouts} recomputed={stats.recomputed}"
    )
    subprocess.run([sys.executable, "-m", "shop.report", str(count)], check=True)
    return 0 if stats.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
