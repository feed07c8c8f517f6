import sys

from shop.pricing import total

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    print(f"report: {n} orders, reference basket total {total([('apple', 1), ('plum', 2)])}")
