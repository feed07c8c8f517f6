"""Activation sources: the environment, a watched file, and strict mode.

- ``CHAOSKIT_FAILPOINTS="a=return(1);b=sleep(10ms)"`` is applied when chaoskit is
  imported. Names registered later (a module imported afterwards) pick the terms up when
  they register; function targets (``pkg.mod:Qual.name``) are handed to
  :func:`chaoskit.hooks.patcher.patch_on_import`.
- ``CHAOSKIT_FAILPOINTS_FILE=path``: a file of entries (``;`` or newline separated,
  ``#`` comments) re-read when it changes (:class:`FileSource`).
- ``CHAOSKIT_FAILPOINTS_HTTP=host:port``: the control endpoint
  (:mod:`chaoskit.failpoints.http`).
- ``CHAOSKIT_STRICT=1``: at exit, names that were enabled but that no code registered are
  reported and the process exits with status 3.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

from chaoskit.errors import ConfigError
from chaoskit.failpoints import registry
from chaoskit.failpoints.terms import Terms, parse_entries

# Start-up time: every program that uses failpoints imports this module (it applies
# CHAOSKIT_FAILPOINTS), so ``typing`` is for the type checker only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Protocol

    class FailpointSource(Protocol):
        """Something that feeds entries into the registry and can be stopped
        (:class:`FileSource`, :class:`chaoskit.failpoints.http.ControlServer`)."""

        def start(self) -> Any: ...

        def stop(self) -> None: ...


__all__ = [
    "STRICT_EXIT_CODE",
    "FileSource",
    "apply_entries",
    "load_environment",
    "never_registered",
    "pending_targets",
    "retry_pending",
]

STRICT_EXIT_CODE = 3

_pending: list[tuple[str, Terms]] = []
_pending_lock = threading.Lock()
_started: dict[str, Any] = {}


def _to_patcher(name: str, terms: Terms) -> bool:
    try:
        from chaoskit.hooks.patcher import patch_on_import
    except ImportError:
        return False
    patch_on_import(name, str(terms))
    return True


def apply_entries(entries: list[tuple[str, Terms]]) -> list[str]:
    """Enable each entry in the root scope; function targets go to the patcher.

    Returns the names applied. A target whose patcher is unavailable is enabled and kept
    pending (:func:`retry_pending`).
    """
    names = []
    for name, terms in entries:
        if ":" in name:
            if terms.is_off:
                registry.disable(name, scope=registry.ROOT)
            elif not _to_patcher(name, terms):
                registry.enable(name, terms, scope=registry.ROOT)
                with _pending_lock:
                    _pending.append((name, terms))
        elif terms.is_off:
            registry.disable(name, scope=registry.ROOT)
        else:
            registry.enable(name, terms, scope=registry.ROOT)
        names.append(name)
    return names


def pending_targets() -> list[tuple[str, Terms]]:
    with _pending_lock:
        return list(_pending)


def retry_pending() -> int:
    """Hand pending function targets to the patcher again; returns how many remain."""
    with _pending_lock:
        todo = list(_pending)
        _pending.clear()
    for name, terms in todo:
        if not _to_patcher(name, terms):
            with _pending_lock:
                _pending.append((name, terms))
    return len(_pending)


# --- the watched file ------------------------------------------------------------------


class FileSource:
    """Applies the entries of ``path`` and re-applies them whenever the file changes.

    Names that disappear from the file are disabled; names whose terms did not change
    keep their counters. A malformed file raises ConfigError at :meth:`start` and is
    logged (keeping the previous settings) when it is re-read.
    """

    def __init__(self, path: str | os.PathLike[str], *, interval: float = 0.2) -> None:
        from pathlib import Path  # loads only when a file source is used (start-up time)

        self.path: Path = Path(path)
        self.interval = interval
        self.applied: dict[str, str] = {}
        self.reloads = 0
        self.last_error: ConfigError | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._text: str | None = None
        self._pending: tuple[object, ...] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def load(self) -> None:
        """Read the file now and apply the difference (raises ConfigError)."""
        stamp = self._read_stamp()
        content = self._read_text()
        entries = parse_entries(content or "", source=str(self.path))
        self._stamp = stamp
        self._text = content
        wanted = {name: terms for name, terms in entries}
        for name in list(self.applied):
            if name not in wanted:
                registry.disable(name, scope=registry.ROOT)
                del self.applied[name]
        changed = [(n, t) for n, t in wanted.items() if self.applied.get(n) != str(t)]
        apply_entries(changed)
        for name, terms in changed:
            self.applied[name] = str(terms)
        self.reloads += 1
        self.last_error = None

    def _read_text(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> bool:
        """One look at the file (the watcher thread calls this every ``interval``).

        A change is applied only once it has stayed the same for a whole poll, so a file
        caught half-written (an editor or ``write_text`` truncates it first) never disables
        its entries. Returns True when the file was (re)applied.
        """
        from chaoskit.failpoints.registry import _log

        # Compare the content too: two writes within the file system's mtime granularity
        # can leave size and mtime unchanged.
        seen = (self._read_stamp(), self._read_text())
        if seen == (self._stamp, self._text):
            self._pending = None
            return False
        if seen != self._pending:
            self._pending = seen  # changed since the last poll: wait one more
            return False
        self._pending = None
        try:
            self.load()
        except ConfigError as exc:
            self._stamp = self._read_stamp()
            self._text = self._read_text()
            self.last_error = exc
            _log().error("failpoint file not applied", path=str(self.path), error=str(exc))
            return False
        except Exception:  # never let the watcher die silently
            _log().exception("failpoint file watcher error", path=str(self.path))
            return False
        return True

    def start(self) -> FileSource:
        self.load()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="chaoskit-failpoints-file", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, *, disable: bool = True) -> None:
        """Stop watching; with ``disable`` (default) the file's failpoints are disabled."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if disable:
            for name in list(self.applied):
                registry.disable(name, scope=registry.ROOT)
            self.applied.clear()

    def __enter__(self) -> FileSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- strict mode -----------------------------------------------------------------------


def never_registered() -> list[str]:
    """Names enabled at some point that no code declared or hit."""
    return sorted(registry.ever_enabled() - registry.registered())


def _strict_check() -> None:
    missing = never_registered()
    if not missing:
        return
    sys.stderr.write(
        "chaoskit: strict mode: failpoint(s) enabled but never registered by any code: "
        + ", ".join(missing)
        + "\n"
    )
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(STRICT_EXIT_CODE)


# --- the environment -------------------------------------------------------------------


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def load_environment(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Apply ``CHAOSKIT_FAILPOINTS``, start the file watcher and HTTP endpoint if asked.

    Called once when :mod:`chaoskit.failpoints` is imported. Returns what was started.
    """
    env = os.environ if environ is None else environ
    text = env.get("CHAOSKIT_FAILPOINTS")
    if text:
        entries = parse_entries(text, source="CHAOSKIT_FAILPOINTS")
        apply_entries(entries)
    path = env.get("CHAOSKIT_FAILPOINTS_FILE")
    if path and "file" not in _started:
        interval = float(env.get("CHAOSKIT_FAILPOINTS_FILE_INTERVAL", "0.2"))
        file_source = FileSource(path, interval=interval).start()
        _started["file"] = file_source
        atexit.register(file_source.stop, disable=False)
    address = env.get("CHAOSKIT_FAILPOINTS_HTTP")
    if address and "http" not in _started:
        from chaoskit.failpoints.http import ControlServer

        server = ControlServer.from_address(address, token=env.get("CHAOSKIT_FAILPOINTS_TOKEN"))
        _started["http"] = server.start()
        atexit.register(server.stop)
    if _truthy(env.get("CHAOSKIT_STRICT")) and "strict" not in _started:
        atexit.register(_strict_check)
        _started["strict"] = True
    return dict(_started)


def started() -> dict[str, Any]:
    """The sources :func:`load_environment` started (``file``, ``http``, ``strict``)."""
    return dict(_started)
