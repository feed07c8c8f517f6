"""Run a program as ``__main__`` the way ``python script.py`` / ``python -m module`` would.

The code is found with importlib's public API (for ``-m``: ``importlib.util.find_spec``,
a package runs its ``__main__`` submodule; a directory or zip file runs the
``__main__.py`` inside) or compiled from the script file, handed to a
transform (which arms ``__main__``'s own functions before the module body runs), and
executed in a fresh ``__main__`` module that replaces the wrapper's in ``sys.modules`` for
good, as coverage.py does. ``sys.argv``, ``sys.path[0]``, ``__file__``, ``__spec__``,
``__loader__`` and ``__package__`` are set as the interpreter sets them.

An uncaught exception is reported through ``sys.excepthook`` with the wrapper's frames
removed from the traceback, so the program's output is what it would have been.
"""

from __future__ import annotations

import builtins
import importlib.machinery
import importlib.util
import os
import sys
import types

from chaoskit._frozen import Frozen

# Start-up time: ``typing`` and ``collections.abc`` are only needed by the type checker.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Transform = Callable[[types.CodeType], types.CodeType]

__all__ = ["NoProgram", "Program", "find_program", "run_program"]


class NoProgram(Exception):
    """The script or module cannot be found; ``message`` is what python would print."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class Program(Frozen):
    """What to run: its code and the ``__main__`` attributes the interpreter would set."""

    __slots__ = ("argv0", "cached", "code", "file", "loader", "package", "path0", "spec")
    _fields = (
        "code",
        "argv0",
        "file",
        "spec",
        "loader",
        "package",
        "path0",
        "cached",
    )
    code: types.CodeType
    argv0: str
    file: str | None
    spec: importlib.machinery.ModuleSpec | None
    loader: object | None
    package: str | None
    path0: str | None
    cached: str | None

    def __init__(
        self,
        *,
        code: types.CodeType,
        argv0: str,
        file: str | None,
        spec: importlib.machinery.ModuleSpec | None,
        loader: object | None,
        package: str | None,
        path0: str | None,  # new sys.path[0], None to keep it
        cached: str | None = None,
    ) -> None:
        self._set(
            code=code,
            argv0=argv0,
            file=file,
            spec=spec,
            loader=loader,
            package=package,
            path0=path0,
            cached=cached,
        )


def find_program(module: str | None, script: str | None) -> Program:
    if module is not None:
        return _find_module(module)
    assert script is not None
    return _find_script(script)


def _find_module(name: str) -> Program:
    exe = os.path.basename(sys.executable) or "python"
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise NoProgram(
            f"{exe}: Error while finding module specification for {name!r} ({type(exc).__name__}: {exc})",
            1,
        ) from None
    if spec is None:
        raise NoProgram(f"{exe}: No module named {name}", 1)
    if spec.submodule_search_locations is not None:
        main_name = f"{name}.__main__"
        try:
            spec = importlib.util.find_spec(main_name)
        except ImportError:
            spec = None
        if spec is None:
            raise NoProgram(
                f"{exe}: No module named {main_name}; {name!r} is a package and cannot be "
                "directly executed",
                1,
            )
        name = main_name
    loader = spec.loader
    get_code = getattr(loader, "get_code", None)
    code = get_code(name) if get_code is not None else None
    if code is None:
        raise NoProgram(f"{exe}: No code object available for {name}", 1)
    file = spec.origin if spec.has_location else None
    return Program(
        code=code,
        argv0=file or name,
        file=file,
        spec=spec,
        loader=loader,
        package=name.rpartition(".")[0],
        path0=None,
        cached=spec.cached,
    )


def _find_main_in(script: str, path: str, exe: str) -> Program:
    """A directory or zip file with a ``__main__.py``, as ``python DIR`` runs it."""
    spec = importlib.machinery.PathFinder.find_spec("__main__", [path])
    if spec is None or spec.loader is None:
        raise NoProgram(f"{exe}: can't find '__main__' module in {script!r}", 1)
    code = spec.loader.get_code("__main__")  # type: ignore[attr-defined]
    if code is None:
        raise NoProgram(f"{exe}: can't find '__main__' module in {script!r}", 1)
    return Program(
        code=code,
        argv0=script,
        file=spec.origin,
        spec=spec,
        loader=spec.loader,
        package="",
        path0=path,
        cached=spec.cached,
    )


def _is_zipfile(path: str) -> bool:
    if not os.path.isfile(path):
        return False
    import zipfile

    return zipfile.is_zipfile(path)


def _find_script(script: str) -> Program:
    exe = os.path.basename(sys.executable) or "python"
    path = os.path.abspath(script)
    if os.path.isdir(path) or (not path.endswith(".py") and _is_zipfile(path)):
        return _find_main_in(script, path, exe)
    try:
        with open(path, "rb") as fh:
            source = fh.read()
    except OSError as exc:
        raise NoProgram(
            f"{exe}: can't open file {path!r}: [Errno {exc.errno}] {exc.strerror}", 2
        ) from None
    code = compile(source, path, "exec", dont_inherit=True)
    return Program(
        code=code,
        argv0=script,
        file=path,
        spec=None,
        loader=importlib.machinery.SourceFileLoader("__main__", path),
        package=None,
        path0=os.path.dirname(os.path.realpath(path)),
    )


def _strip_traceback(tb: types.TracebackType | None) -> types.TracebackType | None:
    """Drop the leading frames that belong to this module (the wrapper)."""
    here = __file__
    while tb is not None and tb.tb_frame.f_code.co_filename == here:
        tb = tb.tb_next
    return tb


def run_program(program: Program, args: list[str], transform: Transform | None = None) -> None:
    """Execute ``program`` as ``__main__`` with ``sys.argv = [argv0, *args]``.

    ``SystemExit`` propagates unchanged. Any other uncaught exception is printed through
    ``sys.excepthook`` (wrapper frames removed) and re-raised as ``SystemExit(1)``;
    ``KeyboardInterrupt`` is printed the same way and re-raised.
    """
    code = transform(program.code) if transform is not None else program.code
    main = types.ModuleType("__main__")
    main.__file__ = program.file
    if program.file is None:
        del main.__file__
    main.__cached__ = program.cached  # type: ignore[attr-defined]
    main.__loader__ = program.loader  # type: ignore[assignment]
    main.__package__ = program.package
    main.__spec__ = program.spec
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    sys.argv[:] = [program.argv0, *args]
    if program.path0 is not None:
        if sys.path:
            sys.path[0] = program.path0
        else:
            sys.path.insert(0, program.path0)
    try:
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        tb = _strip_traceback(exc.__traceback__)
        exc.__traceback__ = tb
        sys.excepthook(type(exc), exc, tb)
        if isinstance(exc, KeyboardInterrupt):
            # Printed already; let the interpreter see an uncaught KeyboardInterrupt so it
            # exits by SIGINT after atexit handlers, exactly as it would have.
            sys.excepthook = _silent_hook
            raise KeyboardInterrupt from None
        raise SystemExit(1) from None


def _silent_hook(*args: object) -> None:
    return None
