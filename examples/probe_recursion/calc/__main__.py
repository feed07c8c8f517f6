"""python -m calc EXPRESSION...: print the value of each expression."""

from __future__ import annotations

import sys

from calc.parser import evaluate


def main(argv: list[str]) -> int:
    status = 0
    for text in argv or ["1 + 2 * (3 - 4)"]:
        try:
            print(f"{text} = {evaluate(text):g}")
        except (SyntaxError, ZeroDivisionError) as exc:
            print(f"{text}: error: {exc}")
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
