"""The ``python -m chaoskit.instrument`` command."""

from __future__ import annotations

import sys

from chaoskit.errors import ConfigError
from chaoskit.instrument.options import USAGE, parse_args

__all__ = ["main"]

USAGE_EXIT = 2


def _error(message: str) -> int:
    sys.stderr.write(f"chaoskit instrument: error: {message}\n")
    sys.stderr.write(
        "usage: python -m chaoskit.instrument [options] (script.py | -m module) [args...]\n"
    )
    return USAGE_EXIT


def main(argv: list[str] | None = None) -> int:
    """Run the program named in ``argv`` (default ``sys.argv[1:]``); return its exit code.

    The program's own ``SystemExit`` propagates unchanged.
    """
    args = sys.argv[1:] if argv is None else argv
    try:
        options = parse_args(args)
    except ConfigError as exc:
        return _error(str(exc))
    if options.help:
        sys.stdout.write(USAGE)
        return 0
    if options.version:
        from chaoskit import __version__

        sys.stdout.write(f"chaoskit {__version__}\n")
        return 0

    from chaoskit.instrument.config import load_settings
    from chaoskit.instrument.runner import NoProgram, find_program, run_program
    from chaoskit.instrument.session import Session

    try:
        settings = load_settings(options)
    except ConfigError as exc:
        return _error(str(exc))
    try:
        program = find_program(options.module, options.script)
    except NoProgram as exc:
        sys.stderr.write(exc.message + "\n")
        return exc.exit_code
    except SyntaxError:
        # the interpreter prints syntax errors in the script the same way
        import traceback

        traceback.print_exc(limit=0)
        return 1
    label = f"-m {options.module}" if options.module else str(options.script)
    main_module = program.spec.name if options.module and program.spec is not None else None
    session = Session(settings, label, main_module)
    try:
        session.start()
    except ConfigError as exc:
        session.stop()
        return _error(str(exc))
    try:
        run_program(program, list(options.args), session.transform)
    except SystemExit as exc:
        session.exit_code = _code(exc.code)
        raise
    except KeyboardInterrupt:
        # Finish now: imports made by exit handlers would make the interpreter forget that
        # it must exit by SIGINT after an uncaught KeyboardInterrupt.
        session.exit_code = 130
        session.finish()
        raise
    session.exit_code = 0
    return 0


def _code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1
