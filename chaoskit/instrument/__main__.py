"""``python -m chaoskit.instrument [options] (script.py | -m module) [args...]``."""

from chaoskit.instrument.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
