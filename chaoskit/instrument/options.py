"""Command-line options of ``python -m chaoskit.instrument``.

Parsed by hand: options end at the program (a script path or ``-m module``), and every
argument after it belongs to the program untouched, exactly as ``python`` itself treats
them. Mistakes raise :class:`~chaoskit.errors.ConfigError` naming the offending argument.
"""

from __future__ import annotations

from chaoskit._frozen import Frozen
from chaoskit.errors import ConfigError

__all__ = ["USAGE", "Options", "parse_args"]

USAGE = """\
usage: python -m chaoskit.instrument [options] (script.py | -m module) [args...]

Run an unmodified Python program with failpoints and function patches applied.

options:
  -f, --failpoint NAME=TERMS  activate TERMS for a failpoint name or a 'module:qualname'
                              function target (repeatable)
  --probe SCOPE               measure recursion depth in SCOPE (module or module:qualname;
                              repeatable)
  --config FILE               read settings from FILE ([tool.chaoskit] of a pyproject.toml,
                              a chaoskit TOML file, or NAME=TERMS lines)
  --report PATH               write a JSON report to PATH at exit
  --seed N                    seed chaoskit's random decisions (reproducible firings)
  --strict                    exit 2 if a target never resolved or a failpoint was never
                              registered
  --redirect HOST:PORT[=VIA]  send the program's connections to HOST:PORT through a
                              chaos proxy (created on the proxy API at 127.0.0.1:8474,
                              or the listener VIA=HOST:PORT); repeatable
  --no-propagate              do not instrument child Python processes
  --no-summary                do not print the summary on stderr at exit
  --version                   print chaoskit's version and exit
  -h, --help                  print this help and exit

Settings also come from [tool.chaoskit] in the nearest pyproject.toml and from the
CHAOSKIT_FAILPOINTS environment variable; flags win over both.
"""


class Options(Frozen):
    """What the command line asked for (before configuration files are merged in).

    A :class:`~chaoskit._frozen.Frozen` value, not a NamedTuple: ``typing`` is not imported
    at the wrapper's start-up.
    """

    __slots__ = (
        "args",
        "config",
        "failpoints",
        "help",
        "module",
        "probes",
        "propagate",
        "redirects",
        "report",
        "script",
        "seed",
        "strict",
        "summary",
        "version",
    )
    _fields = (
        "failpoints",
        "probes",
        "config",
        "report",
        "seed",
        "strict",
        "redirects",
        "propagate",
        "summary",
        "module",
        "script",
        "args",
        "help",
        "version",
    )
    failpoints: tuple[tuple[str, str], ...]
    probes: tuple[str, ...]
    config: str | None
    report: str | None
    seed: int | None
    strict: bool | None
    redirects: tuple[str, ...]
    propagate: bool | None
    summary: bool
    module: str | None
    script: str | None
    args: tuple[str, ...]
    help: bool
    version: bool

    def __init__(
        self,
        *,
        failpoints: tuple[tuple[str, str], ...] = (),
        probes: tuple[str, ...] = (),
        config: str | None = None,
        report: str | None = None,
        seed: int | None = None,
        strict: bool | None = None,
        redirects: tuple[str, ...] = (),
        propagate: bool | None = None,
        summary: bool = True,
        module: str | None = None,
        script: str | None = None,
        args: tuple[str, ...] = (),
        help: bool = False,
        version: bool = False,
    ) -> None:
        self._set(
            failpoints=failpoints,
            probes=probes,
            config=config,
            report=report,
            seed=seed,
            strict=strict,
            redirects=redirects,
            propagate=propagate,
            summary=summary,
            module=module,
            script=script,
            args=args,
            help=help,
            version=version,
        )


_WITH_VALUE = {
    "-f": "failpoint",
    "--failpoint": "failpoint",
    "--probe": "probe",
    "--config": "config",
    "--report": "report",
    "--seed": "seed",
    "--redirect": "redirect",
}
_FLAGS = {
    "--strict": "strict",
    "--no-propagate": "no-propagate",
    "--no-summary": "no-summary",
    "--version": "version",
    "-h": "help",
    "--help": "help",
}


def split_entry(text: str, *, source: str) -> tuple[str, str]:
    """``NAME=TERMS`` -> ``(name, terms)`` split at the first ``=``."""
    name, sep, terms = text.partition("=")
    name, terms = name.strip(), terms.strip()
    if not sep or not name or not terms:
        raise ConfigError("expected NAME=TERMS", text=text, source=source)
    return name, terms


def parse_args(argv: list[str]) -> Options:
    """Parse the wrapper's own options; stop at the program."""
    failpoints: list[tuple[str, str]] = []
    probes: list[str] = []
    redirects: list[str] = []
    values: dict[str, object] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            if i >= len(argv):
                raise ConfigError("'--' must be followed by the program to run", text=arg)
            values["script"] = argv[i]
            i += 1
            break
        if arg == "-m" or (arg.startswith("-m") and not arg.startswith("--")):
            module = arg[2:] if len(arg) > 2 else None
            if module is None:
                if i + 1 >= len(argv):
                    raise ConfigError("-m needs a module name", text=arg)
                i += 1
                module = argv[i]
            values["module"] = module
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            values["script"] = arg
            i += 1
            break
        key, value = _option(argv, i)
        i += 1 if value is None or "=" in arg or (arg.startswith("-f") and len(arg) > 2) else 2
        if key in _FLAGS:
            values[_FLAGS[key]] = True
            continue
        assert value is not None
        opt = _WITH_VALUE[key]
        if opt == "failpoint":
            failpoints.append(split_entry(value, source=f"{key} {value}"))
        elif opt == "probe":
            probes.append(value)
        elif opt == "redirect":
            redirects.append(value)
        elif opt == "seed":
            try:
                values["seed"] = int(value)
            except ValueError:
                raise ConfigError("--seed needs an integer", text=value) from None
        else:
            values[opt] = value
    if (
        "module" not in values
        and "script" not in values
        and not (values.get("help") or values.get("version"))
    ):
        raise ConfigError("no program given: expected a script path or -m module")
    return Options(
        failpoints=tuple(failpoints),
        probes=tuple(probes),
        config=_str(values.get("config")),
        report=_str(values.get("report")),
        seed=values.get("seed"),  # type: ignore[arg-type]
        strict=True if values.get("strict") else None,
        redirects=tuple(redirects),
        propagate=False if values.get("no-propagate") else None,
        summary=not values.get("no-summary"),
        module=_str(values.get("module")),
        script=_str(values.get("script")),
        args=tuple(argv[i:]),
        help=bool(values.get("help")),
        version=bool(values.get("version")),
    )


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _option(argv: list[str], i: int) -> tuple[str, str | None]:
    """``(key, value)`` for the option at ``argv[i]``; value None for flags."""
    arg = argv[i]
    if arg.startswith("-f") and not arg.startswith("--") and len(arg) > 2:
        return "-f", arg[2:]
    key, eq, inline = arg.partition("=")
    if key in _FLAGS:
        if eq:
            raise ConfigError(f"{key} takes no value", text=arg)
        return key, None
    if key not in _WITH_VALUE:
        raise ConfigError(f"unknown option {key!r} (see --help)", text=arg)
    if eq:
        return key, inline
    if i + 1 >= len(argv):
        raise ConfigError(f"{key} needs a value", text=arg)
    return key, argv[i + 1]
