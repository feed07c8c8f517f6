"""Settings of an instrumented run, merged from every source.

Precedence, lowest first: ``[tool.chaoskit]`` in the nearest ``pyproject.toml`` (searched
from the working directory upwards), ``--config FILE``, ``CHAOSKIT_FAILPOINTS`` (and
``CHAOSKIT_SEED`` / ``CHAOSKIT_STRICT``), then command-line flags. A failpoint entry named
again by a later source replaces the earlier one. Every entry is validated (terms parsed,
targets checked for shape) before anything is applied.

TOML keys (``[tool.chaoskit]`` or the top level of a chaoskit TOML file)::

    failpoints = { "myapp.db:Repo.save" = "10%raise(ConnectionError)", "slow-io" = "sleep(5)" }
    # or: failpoints = ["myapp.db:Repo.save=10%raise(ConnectionError)", "slow-io=sleep(5)"]
    probe = ["myapp.saga"]
    seed = 42
    strict = true
    report = "chaos-report.json"
    propagate = true
    redirect = ["127.0.0.1:5432=127.0.0.1:15432"]

Sub-tables other than ``failpoints`` (``[tool.chaoskit.<other>]``) belong to other chaoskit
tools and are ignored here; any other unknown key is an error.
"""

from __future__ import annotations

import os

from chaoskit._frozen import Frozen
from chaoskit.errors import ConfigError
from chaoskit.instrument.options import Options, split_entry

# Start-up time: the wrapper imports this module on every run, so it avoids ``typing``
# and ``pathlib`` (paths are strings here).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Settings", "find_pyproject", "load_settings"]

_KEYS = {"failpoints", "probe", "seed", "strict", "report", "propagate", "redirect"}


class Settings(Frozen):
    """Everything the run applies; ``entries`` keep their source for error messages."""

    __slots__ = (
        "entries",
        "probes",
        "propagate",
        "redirects",
        "report",
        "seed",
        "strict",
        "summary",
    )
    _fields = (
        "entries",
        "probes",
        "seed",
        "strict",
        "report",
        "propagate",
        "redirects",
        "summary",
    )
    entries: tuple[tuple[str, str, str], ...]
    probes: tuple[str, ...]
    seed: int | None
    strict: bool
    report: str | None
    propagate: bool
    redirects: tuple[str, ...]
    summary: bool

    def __init__(
        self,
        *,
        entries: tuple[tuple[str, str, str], ...],  # (name, terms, source)
        probes: tuple[str, ...],
        seed: int | None,
        strict: bool,
        report: str | None,
        propagate: bool,
        redirects: tuple[str, ...],
        summary: bool,
    ) -> None:
        self._set(
            entries=entries,
            probes=probes,
            seed=seed,
            strict=strict,
            report=report,
            propagate=propagate,
            redirects=redirects,
            summary=summary,
        )

    @property
    def failpoints(self) -> dict[str, str]:
        return {name: terms for name, terms, _ in self.entries}


def find_pyproject(start: str | os.PathLike[str]) -> str | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    directory = os.path.abspath(start)
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _read_toml(path: str) -> dict[str, Any]:
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", source=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=path) from None


def _table_from(path: str, *, pyproject: bool) -> dict[str, Any]:
    """The chaoskit settings of a TOML file: ``[tool.chaoskit]`` of a pyproject.toml; in
    any other file, ``[tool.chaoskit]`` if it has one (a pyproject-style file under another
    name), else its top level."""
    data = _read_toml(path)
    tool = data.get("tool", {})
    table = tool.get("chaoskit") if isinstance(tool, dict) else None
    if pyproject or os.path.basename(path) == "pyproject.toml":
        return table if isinstance(table, dict) else {}
    if isinstance(table, dict):
        return table
    return data


def _check_keys(table: dict[str, Any], source: str) -> None:
    for key, value in table.items():
        if key in _KEYS:
            continue
        if isinstance(value, dict):
            continue  # [tool.chaoskit.<other>]: another tool's table
        raise ConfigError(
            f"unknown setting {key!r} (known: {', '.join(sorted(_KEYS))})", source=source
        )


def _entries_from_value(value: Any, source: str) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    if isinstance(value, dict):
        for name, terms in value.items():
            if not isinstance(terms, str):
                raise ConfigError(f"terms for {name!r} must be a string", source=source)
            out.append((name, terms, f"{source} failpoints.{name}"))
    elif isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                raise ConfigError(
                    "failpoints list items must be 'NAME=TERMS' strings", source=source
                )
            name, terms = split_entry(item, source=source)
            out.append((name, terms, source))
    elif isinstance(value, str):
        out.extend(_entries_from_text(value, source))
    else:
        raise ConfigError("'failpoints' must be a table, a list or a string", source=source)
    return out


def _entries_from_text(text: str, source: str) -> list[tuple[str, str, str]]:
    """``name=terms`` entries separated by ``;`` or newlines (``#`` starts a comment)."""
    out: list[tuple[str, str, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0] if line.lstrip().startswith("#") else line
        for piece in line.split(";"):
            if piece.strip():
                where = f"{source} line {lineno}" if "\n" in text else source
                name, terms = split_entry(piece, source=where)
                out.append((name, terms, where))
    return out


def _bool(value: Any, key: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key!r} must be true or false, not {value!r}", source=source)
    return value


def _str_list(value: Any, key: str, source: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{key!r} must be a string or a list of strings", source=source)


def load_settings(
    options: Options,
    *,
    cwd: str | os.PathLike[str] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge pyproject, ``--config``, the environment and flags; validate every entry."""
    env = dict(os.environ) if environ is None else environ
    entries: dict[str, tuple[str, str, str]] = {}
    probes: list[str] = []
    redirects: list[str] = []
    scalars: dict[str, Any] = {}

    def merge_table(table: dict[str, Any], source: str) -> None:
        _check_keys(table, source)
        if "failpoints" in table:
            for name, terms, where in _entries_from_value(table["failpoints"], source):
                entries[name] = (name, terms, where)
        if "probe" in table:
            probes.extend(_str_list(table["probe"], "probe", source))
        if "redirect" in table:
            redirects.extend(_str_list(table["redirect"], "redirect", source))
        if "seed" in table:
            if not isinstance(table["seed"], int) or isinstance(table["seed"], bool):
                raise ConfigError(
                    f"'seed' must be an integer, not {table['seed']!r}", source=source
                )
            scalars["seed"] = table["seed"]
        for key in ("strict", "propagate"):
            if key in table:
                scalars[key] = _bool(table[key], key, source)
        if "report" in table:
            if not isinstance(table["report"], str):
                raise ConfigError("'report' must be a path string", source=source)
            scalars["report"] = table["report"]

    pyproject = find_pyproject(os.getcwd() if cwd is None else cwd)
    if pyproject is not None and "chaoskit" in _read_text(pyproject, errors="replace"):
        merge_table(_table_from(pyproject, pyproject=True), f"{pyproject} [tool.chaoskit]")
    if options.config is not None:
        path = options.config
        if not os.path.isfile(path):
            raise ConfigError("config file not found", text=path, source="--config")
        if path.endswith(".toml"):
            merge_table(_table_from(path, pyproject=False), path)
        else:
            for name, terms, where in _entries_from_text(_read_text(path), path):
                entries[name] = (name, terms, where)
    env_text = env.get("CHAOSKIT_FAILPOINTS", "")
    if env_text.strip():
        for name, terms, where in _entries_from_text(env_text, "CHAOSKIT_FAILPOINTS"):
            entries[name] = (name, terms, where)
    if env.get("CHAOSKIT_SEED", "").strip():
        try:
            scalars["seed"] = int(env["CHAOSKIT_SEED"])
        except ValueError:
            raise ConfigError(
                "must be an integer", text=env["CHAOSKIT_SEED"], source="CHAOSKIT_SEED"
            ) from None
    if env.get("CHAOSKIT_STRICT", "").strip() in ("1", "true", "yes"):
        scalars["strict"] = True
    for name, terms in options.failpoints:
        entries[name] = (name, terms, f"-f {name}={terms}")
    probes.extend(options.probes)
    redirects.extend(options.redirects)
    settings = Settings(
        entries=tuple(entries.values()),
        probes=tuple(dict.fromkeys(probes)),
        seed=options.seed if options.seed is not None else scalars.get("seed"),
        strict=bool(options.strict if options.strict is not None else scalars.get("strict", False)),
        report=options.report if options.report is not None else scalars.get("report"),
        propagate=bool(
            options.propagate if options.propagate is not None else scalars.get("propagate", True)
        ),
        redirects=tuple(redirects),
        summary=options.summary,
    )
    validate(settings)
    return settings


def _read_text(path: str, errors: str = "strict") -> str:
    with open(path, encoding="utf-8", errors=errors) as fh:
        return fh.read()


def validate(settings: Settings) -> None:
    """Parse every entry's terms and target shape; raise the first error found."""
    if not settings.entries:
        return
    from chaoskit.failpoints.terms import parse_terms
    from chaoskit.hooks.resolve import is_target, parse_target

    for name, terms, source in settings.entries:
        if is_target(name):
            parse_target(name, source=source)
        parse_terms(terms, source=f"{source} ({name})")
