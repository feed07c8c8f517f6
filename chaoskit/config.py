"""Scenarios described as data (TOML or YAML), and ``[tool.chaoskit]`` defaults.

A scenario file names the target and the steps by import path (``"myapp.engine:Engine"``),
and the injectors and validators by the name of their factory in
:mod:`chaoskit.injectors` / :mod:`chaoskit.validators` (or by import path)::

    [scenario]
    name = "checkout"
    target = "myapp.shop:Shop"          # a class is instantiated with no arguments
    steps = ["myapp.shop:checkout"]     # or [{name = "pay", fn = "myapp.shop:pay"}]
    repeat = 200                        # or run_for = "30s"
    seed = 42
    thresholds = "default"              # or a table: {preset = "relaxed", min_success_rate = 0.9}

    [[scenario.inject]]
    type = "random_delay"
    args = [0.005, 0.025]

    [[scenario.check]]
    name = "threads"
    type = "thread_limit"
    args = [200]
    severity = "warning"

Several scenarios go in ``[[scenarios]]`` instead of ``[scenario]``. Every mistake raises
:class:`~chaoskit.errors.ConfigError` naming the key path and the file and line.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chaoskit.errors import ConfigError
from chaoskit.thresholds import Thresholds, preset

__all__ = [
    "SUFFIXES",
    "CliDefaults",
    "SourceMap",
    "import_object",
    "load_defaults",
    "load_scenarios",
    "read_config_file",
]

SUFFIXES = (".toml", ".yaml", ".yml", ".json")

_SCENARIO_KEYS = {
    "name", "description", "target", "steps", "inject", "check", "probe", "probes",
    "repeat", "run_for", "workers", "seed", "thresholds", "metadata",
}  # fmt: skip
_COMPONENT_KEYS = {"name", "type", "args", "kwargs", "severity"}


# --- where a key is: file and line ---------------------------------------------------


class SourceMap:
    """Key paths (``scenario.inject[1].type``) to 1-based line numbers of one file."""

    def __init__(self, source: str, lines: dict[str, int]) -> None:
        self.source = source
        self.lines = lines

    def where(self, path: str) -> str:
        probe = path
        while probe:
            if probe in self.lines:
                return f"{self.source}:{self.lines[probe]}"
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return self.source

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{path}: {message}" if path else message, source=self.where(path))


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def _split_key(key: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", key)
    return [p.strip("\"'") for p in parts]


def _toml_lines(text: str) -> dict[str, int]:
    """A best-effort map of TOML key paths to lines (tables, arrays of tables, inline arrays)."""
    lines: dict[str, int] = {}
    arrays: dict[str, int] = {}  # array-of-tables path -> current index
    prefix = ""
    open_array: str | None = None
    element = -1
    for lineno, raw in enumerate(text.splitlines(), 1):
        m = _HEADER.match(raw)
        if m and not _KEY.match(raw):
            open_array = None
            parts = _split_key(m.group(2))
            path = ""
            for i, part in enumerate(parts):
                path = f"{path}.{part}" if path else part
                if i < len(parts) - 1 and path in arrays:
                    path = f"{path}[{arrays[path]}]"
            if m.group(1) == "[[":
                base = path
                arrays[base] = arrays.get(base, -1) + 1
                path = f"{base}[{arrays[base]}]"
            prefix = path
            lines.setdefault(prefix, lineno)
            continue
        km = _KEY.match(raw)
        if km:
            key = ".".join(_split_key(km.group(1)))
            path = f"{prefix}.{key}" if prefix else key
            lines[path] = lineno
            rest = raw[km.end() :].strip()
            if rest.startswith("[") and not rest.rstrip().endswith("]"):
                open_array, element = path, -1
            else:
                open_array = None
            continue
        if open_array is not None:
            stripped = raw.strip()
            if stripped.startswith(("{", '"', "'")) or (stripped and stripped[0].isdigit()):
                element += 1
                lines[f"{open_array}[{element}]"] = lineno
            if stripped.startswith("]"):
                open_array = None
    return lines


def _yaml_lines(
    node: yaml.Node | None, path: str = "", out: dict[str, int] | None = None
) -> dict[str, int]:
    out = {} if out is None else out
    if node is None:
        return out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            out[child] = key_node.start_mark.line + 1
            _yaml_lines(value_node, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _yaml_lines(item, f"{path}[{i}]", out)
    return out


def read_config_file(path: str | Path) -> tuple[dict[str, Any], SourceMap]:
    """Parse a TOML or YAML file into a mapping and its :class:`SourceMap`."""
    p = Path(path)
    source = str(path)
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(
            f"unsupported scenario file type {suffix or '(none)'!r} (use {', '.join(SUFFIXES)})",
            source=source,
        )
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read scenario file: {exc.strerror}", source=source) from None
    if suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = re.search(r"line (\d+)", str(exc))
            where = f"{source}:{line.group(1)}" if line else source
            raise ConfigError(f"invalid TOML: {exc}", source=where) from None
        return data, SourceMap(source, _toml_lines(text))
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc.msg}", source=f"{source}:{exc.lineno}") from None
        if not isinstance(data, dict):
            raise ConfigError("the file must contain an object at the top level", source=source)
        try:  # JSON is (nearly) YAML: its composer gives the lines of the keys
            lines = _yaml_lines(yaml.compose(text, Loader=yaml.SafeLoader))
        except yaml.YAMLError:
            lines = {}
        return data, SourceMap(source, lines)
    if suffix in (".yaml", ".yml"):
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{source}:{mark.line + 1}" if mark is not None else source
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"invalid YAML: {problem}", source=where) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError("the file must contain a mapping at the top level", source=source)
        return data, SourceMap(source, _yaml_lines(node))
    raise AssertionError(suffix)  # pragma: no cover - suffixes checked above


# --- import paths ---------------------------------------------------------------------


def import_object(spec: str) -> Any:
    """``"pkg.mod:attr.sub"`` (or ``"pkg.mod.attr"``) to the object; ConfigError if missing."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"expected an import path like 'package.module:name', got {spec!r}")
    module_name, sep, attr = spec.partition(":")
    if not sep:
        module_name, _, attr = spec.rpartition(".")
        if not module_name:
            raise ConfigError(f"expected an import path like 'package.module:name', got {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r}: {exc}", text=spec) from None
    for part in attr.split(".") if attr else []:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{module_name!r} has no attribute {attr!r}", text=spec) from None
    return obj


@contextlib.contextmanager
def _import_root(directory: Path) -> Iterator[None]:
    """Let a scenario file import modules next to it (and from the working directory)."""
    added = [str(d) for d in (directory.resolve(), Path.cwd()) if str(d) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for d in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(d)


# --- building scenarios ----------------------------------------------------------------


def _expect(value: Any, types: type | tuple[type, ...], what: str, path: str, sm: SourceMap) -> Any:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise sm.error(path, f"{what} must be {_type_names(types)}, got {value!r}")
    if not isinstance(value, types):
        raise sm.error(path, f"{what} must be {_type_names(types)}, got {value!r}")
    return value


def _type_names(types: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", list: "a list",
             dict: "a table", bool: "true or false"}  # fmt: skip
    seq = types if isinstance(types, tuple) else (types,)
    return " or ".join(names.get(t, t.__name__) for t in seq)


def _resolve(spec: Any, path: str, sm: SourceMap) -> Any:
    _expect(spec, str, "an import path", path, sm)
    try:
        return import_object(spec)
    except ConfigError as exc:
        raise sm.error(path, exc.message + f" ({spec!r})") from None


def _value(value: Any, path: str, sm: SourceMap) -> Any:
    """An argument value; a table ``{import = "pkg.mod:name"}`` is resolved to the object."""
    if isinstance(value, dict) and set(value) == {"import"}:
        return _resolve(value["import"], f"{path}.import", sm)
    return value


def _call(factory: Any, args: Any, kwargs: Any, path: str, sm: SourceMap) -> Any:
    _expect(args, list, "args", f"{path}.args", sm)
    _expect(kwargs, dict, "kwargs", f"{path}.kwargs", sm)
    args = [_value(v, f"{path}.args[{i}]", sm) for i, v in enumerate(args)]
    kwargs = {k: _value(v, f"{path}.{k}", sm) for k, v in kwargs.items()}
    try:
        return factory(*args, **kwargs)
    except ConfigError as exc:
        raise sm.error(path, exc.message) from None
    except TypeError as exc:
        raise sm.error(path, f"bad arguments: {exc}") from None


def _target(spec: Any, path: str, sm: SourceMap) -> Any:
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - {"factory", "args", "kwargs"})
        if unknown:
            raise sm.error(f"{path}.{unknown[0]}", "unknown key (known: factory, args, kwargs)")
        if "factory" not in spec:
            raise sm.error(path, "a target table needs 'factory'")
        factory = _resolve(spec["factory"], f"{path}.factory", sm)
        return _call(factory, spec.get("args", []), spec.get("kwargs", {}), path, sm)
    obj = _resolve(spec, path, sm)
    return _call(obj, [], {}, path, sm) if isinstance(obj, type) else obj


def _steps(spec: Any, path: str, sm: SourceMap) -> list[tuple[str, Any]]:
    _expect(spec, list, "steps", path, sm)
    if not spec:
        raise sm.error(path, "at least one step is needed")
    out = []
    for i, item in enumerate(spec):
        ipath = f"{path}[{i}]"
        if isinstance(item, str):
            fn = _resolve(item, ipath, sm)
            out.append((getattr(fn, "__name__", item), fn))
            continue
        _expect(item, dict, "a step", ipath, sm)
        unknown = sorted(set(item) - {"name", "fn"})
        if unknown:
            raise sm.error(f"{ipath}.{unknown[0]}", "unknown step key (known: name, fn)")
        if "fn" not in item:
            raise sm.error(ipath, "a step needs 'fn' (an import path)")
        fn = _resolve(item["fn"], f"{ipath}.fn", sm)
        name = item.get("name", getattr(fn, "__name__", item["fn"]))
        out.append((_expect(name, str, "name", f"{ipath}.name", sm), fn))
    return out


def _components(
    spec: Any, path: str, sm: SourceMap, namespace: str
) -> list[tuple[str, Any, str | None]]:
    if spec is None:
        return []
    _expect(spec, list, path.rsplit(".", 1)[-1], path, sm)
    module = importlib.import_module(namespace)
    known = getattr(module, "__all__", [])
    out = []
    for i, item in enumerate(spec):
        ipath = f"{path}[{i}]"
        _expect(item, dict, "an entry", ipath, sm)
        if "type" not in item:
            raise sm.error(ipath, "missing 'type' (a factory name or import path)")
        kind = _expect(item["type"], str, "type", f"{ipath}.type", sm)
        if ":" in kind:
            factory = _resolve(kind, f"{ipath}.type", sm)
        elif kind in known and kind[:1].islower():
            factory = getattr(module, kind)
        else:
            choices = ", ".join(k for k in known if k[:1].islower())
            raise sm.error(f"{ipath}.type", f"unknown {namespace.rsplit('.', 1)[-1][:-1]} "
                           f"{kind!r} (known: {choices})")  # fmt: skip
        kwargs = {k: v for k, v in item.items() if k not in _COMPONENT_KEYS}
        kwargs.update(_expect(item.get("kwargs", {}), dict, "kwargs", f"{ipath}.kwargs", sm))
        obj = _call(factory, item.get("args", []), kwargs, ipath, sm)
        name = _expect(item.get("name", kind.rsplit(":", 1)[-1]), str, "name", f"{ipath}.name", sm)
        severity = item.get("severity")
        if severity is not None:
            _expect(severity, str, "severity", f"{ipath}.severity", sm)
        out.append((name, obj, severity))
    return out


def _thresholds(spec: Any, path: str, sm: SourceMap) -> Thresholds:
    try:
        if isinstance(spec, str):
            return preset(spec)
        _expect(spec, dict, "thresholds", path, sm)
        return Thresholds.from_dict(spec)
    except ConfigError as exc:
        raise sm.error(path, exc.message) from None


def build_scenario(data: Mapping[str, Any], path: str, sm: SourceMap) -> Any:
    """One scenario from its table (``path`` is its key path, for messages)."""
    import chaoskit as ck

    _expect(data, dict, "a scenario", path, sm)
    unknown = sorted(set(data) - _SCENARIO_KEYS)
    if unknown:
        raise sm.error(
            f"{path}.{unknown[0]}",
            f"unknown scenario key (known: {', '.join(sorted(_SCENARIO_KEYS))})",
        )
    if "name" not in data:
        raise sm.error(path, "a scenario needs a 'name'")
    if "steps" not in data:
        raise sm.error(path, "a scenario needs 'steps'")
    b = ck.scenario(_expect(data["name"], str, "name", f"{path}.name", sm))
    if "target" in data:
        b.target(_target(data["target"], f"{path}.target", sm))
    paths: dict[str, str] = {}  # "validator 'x'" -> key path, to place build() errors
    for i, (name, fn) in enumerate(_steps(data["steps"], f"{path}.steps", sm)):
        b.step(name, fn)
        paths.setdefault(f"step {name!r}", f"{path}.steps[{i}]")
        paths[f"step name {name!r}"] = f"{path}.steps[{i}]"  # a duplicate: the last one
    injects = _components(data.get("inject"), f"{path}.inject", sm, "chaoskit.injectors")
    for i, (name, inj, _) in enumerate(injects):
        b.inject(name, inj)
        paths.setdefault(f"injector {name!r}", f"{path}.inject[{i}]")
        paths[f"injector name {name!r}"] = f"{path}.inject[{i}]"
    checks = _components(data.get("check"), f"{path}.check", sm, "chaoskit.validators")
    for i, (name, val, sev) in enumerate(checks):
        b.check(name, val, severity=sev)
        if sev is not None:
            paths.setdefault(f"validator {name!r} severity", f"{path}.check[{i}].severity")
        paths.setdefault(f"validator {name!r}", f"{path}.check[{i}]")
        paths[f"validator name {name!r}"] = f"{path}.check[{i}]"
    for key in ("probe", "probes"):
        if key in data:
            scopes = data[key] if isinstance(data[key], list) else [data[key]]
            for j, scope in enumerate(scopes):
                _expect(scope, str, "a probe scope", f"{path}.{key}[{j}]", sm)
            b.probe(*scopes)
    for key, types in (
        ("repeat", int),
        ("workers", int),
        ("seed", int),
        ("run_for", (int, float, str)),
    ):
        if key in data:
            getattr(b, key)(_expect(data[key], types, key, f"{path}.{key}", sm))
            paths.setdefault(key, f"{path}.{key}")
    if "thresholds" in data:
        b.thresholds(_thresholds(data["thresholds"], f"{path}.thresholds", sm))
    if "metadata" in data:
        b.metadata(**_expect(data["metadata"], dict, "metadata", f"{path}.metadata", sm))
    try:
        return b.build()
    except ConfigError as exc:
        where = next((p for what, p in paths.items() if what in exc.message), path)
        raise sm.error(where, exc.message) from None


def load_scenarios(path: str | Path) -> list[Any]:
    """Every scenario in a TOML/YAML file, built (``chaoskit.Scenario`` objects)."""
    data, sm = read_config_file(path)
    has_one, has_many = "scenario" in data, "scenarios" in data
    unknown = sorted(set(data) - {"scenario", "scenarios"})
    if unknown:
        raise sm.error(unknown[0], "unknown top-level key (known: scenario, scenarios)")
    if not (has_one or has_many):
        raise sm.error("", "no [scenario] table or [[scenarios]] array in the file")
    with _import_root(Path(path).parent):
        out = []
        if has_one:
            out.append(build_scenario(data["scenario"], "scenario", sm))
        if has_many:
            _expect(data["scenarios"], list, "scenarios", "scenarios", sm)
            for i, item in enumerate(data["scenarios"]):
                out.append(build_scenario(item, f"scenarios[{i}]", sm))
    return out


# --- [tool.chaoskit] defaults for the CLI ------------------------------------------------


@dataclass(frozen=True)
class CliDefaults:
    """What ``[tool.chaoskit]`` in pyproject.toml sets for ``chaoskit run``/``report``."""

    thresholds: Thresholds | None = None
    unstable_fails: bool = False
    report_dir: str | None = None
    reports: tuple[str, ...] = ()
    seed: int | None = None
    progress: bool | None = None
    events: str | None = None
    fail_fast: bool = False
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def find_pyproject(start: str | Path | None = None) -> Path | None:
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        candidate = d / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_defaults(pyproject: str | Path | None = None) -> CliDefaults:
    """Read ``[tool.chaoskit]``; keys other tools own (failpoints, probe, ...) are kept in
    ``extra``; the CLI's own keys are checked and a bad value names its key and line."""
    p = Path(pyproject) if pyproject is not None else find_pyproject()
    if p is None or not p.is_file():
        return CliDefaults()
    data, sm = read_config_file(p)
    section = data.get("tool", {}).get("chaoskit")
    if section is None:
        return CliDefaults(source=str(p))
    base = "tool.chaoskit"
    _expect(section, dict, "[tool.chaoskit]", base, sm)
    kw: dict[str, Any] = {"source": str(p)}
    if "thresholds" in section:
        kw["thresholds"] = _thresholds(section["thresholds"], f"{base}.thresholds", sm)
    for key, types in (
        ("unstable_fails", bool), ("report_dir", str), ("seed", int),
        ("progress", bool), ("events", str), ("fail_fast", bool),
    ):  # fmt: skip
        if key in section:
            kw[key] = _expect(section[key], types, key, f"{base}.{key}", sm)
    if "reports" in section:
        reports = _expect(section["reports"], list, "reports", f"{base}.reports", sm)
        from chaoskit.report.formats import FORMATS

        for i, fmt in enumerate(reports):
            if fmt not in FORMATS:
                raise sm.error(
                    f"{base}.reports[{i}]",
                    f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})",
                )
        kw["reports"] = tuple(reports)
    kw["extra"] = {k: v for k, v in section.items() if k not in CliDefaults.__dataclass_fields__}
    return CliDefaults(**kw)
