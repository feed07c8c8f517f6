"""The ``chaoskit`` command.

``chaoskit run path/to/file.py[::scenario]`` runs scenarios defined in Python;
``chaoskit run scenario.toml`` (or ``.yaml``) runs scenarios described as data;
``chaoskit report events.jsonl --format html -o report.html`` rebuilds a report from a
recorded event log; ``chaoskit proxy`` serves the embedded TCP chaos proxy.

Exit codes: PASS 0, UNSTABLE 0 (1 with ``--unstable-fails``), FAIL 1, usage or
configuration error 2. ``[tool.chaoskit]`` in pyproject.toml sets defaults.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

import click

from chaoskit.config import SUFFIXES, CliDefaults, load_defaults, load_scenarios
from chaoskit.errors import ConfigError
from chaoskit.report.formats import FORMATS, format_for_path, render, write_report
from chaoskit.thresholds import (
    EXIT_CONFIG_ERROR,
    PRESETS,
    Thresholds,
    Verdict,
    exit_code,
    preset,
)

__all__ = ["load_python_scenarios", "main"]

_SUFFIX = {"text": ".txt", "json": ".json", "junit": ".xml", "html": ".html"}


def _fail_config(exc: ConfigError) -> NoReturn:
    click.echo(f"chaoskit: error: {exc}", err=True)
    sys.exit(EXIT_CONFIG_ERROR)


# --- finding scenarios ------------------------------------------------------------------


def _load_module(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError("no such file", source=str(path))
    name = f"chaoskit_scenarios_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError("cannot load this file as Python", source=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    parent = str(path.resolve().parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    try:
        spec.loader.exec_module(module)
    except ConfigError as exc:
        raise ConfigError(exc.message, source=str(path)) from None
    except SyntaxError as exc:
        raise ConfigError(
            f"syntax error: {exc.msg}", source=f"{exc.filename}:{exc.lineno}"
        ) from None
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise ConfigError(
            f"importing it raised {type(exc).__name__}: {exc} (at {frame.filename}:{frame.lineno})",
            source=str(path),
        ) from None
    return module


def _as_scenario(obj: Any, where: str) -> Any:
    from chaoskit.scenario import Scenario, ScenarioBuilder

    if isinstance(obj, ScenarioBuilder):
        obj = obj.build()
    if not isinstance(obj, Scenario):
        raise ConfigError(
            f"{where} is a {type(obj).__name__}, not a scenario "
            "(expected ck.scenario(...).build() or a function returning one)"
        )
    return obj


def load_python_scenarios(spec: str) -> list[Any]:
    """Scenarios from ``file.py`` (every module-level one) or ``file.py::name``.

    ``name`` is a module-level variable, a scenario's own name, or a function taking no
    arguments that returns a scenario (or its builder).
    """
    from chaoskit.scenario import Scenario, ScenarioBuilder

    file_part, _, name = spec.partition("::")
    path = Path(file_part)
    module = _load_module(path)
    found = {
        var: value
        for var, value in vars(module).items()
        if isinstance(value, (Scenario, ScenarioBuilder)) and not var.startswith("_")
    }
    if name:
        if name in vars(module):
            obj = vars(module)[name]
            if callable(obj) and not isinstance(obj, (Scenario, ScenarioBuilder)):
                obj = obj()
            return [_as_scenario(obj, f"{spec}")]
        by_name = [_as_scenario(v, var) for var, v in found.items() if isinstance(v, Scenario)]
        matches = [s for s in by_name if s.name == name]
        if matches:
            return matches
        raise ConfigError(
            f"no scenario {name!r} (found: {', '.join(found) or 'none'})", source=str(path)
        )
    if not found:
        raise ConfigError(
            "no module-level scenarios (define `x = ck.scenario(...).build()` or use "
            "file.py::function)",
            source=str(path),
        )
    return [_as_scenario(v, var) for var, v in found.items()]


def _collect(targets: Iterable[str]) -> list[Any]:
    scenarios: list[Any] = []
    for spec in targets:
        suffix = Path(spec.partition("::")[0]).suffix.lower()
        if suffix in SUFFIXES:
            scenarios += load_scenarios(spec)
        elif suffix == ".py":
            scenarios += load_python_scenarios(spec)
        else:
            raise ConfigError(
                "expected a .py file (optionally ::scenario) or a .toml/.yaml/.json scenario file",
                text=spec,
            )
    return scenarios


# --- the command group, with `proxy` loaded lazily ------------------------------------


class _Group(click.Group):
    _lazy = {"proxy": ("chaoskit.netchaos.cli", "proxy_command")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            module_name, attr = self._lazy[cmd_name]
            try:
                module = importlib.import_module(module_name)
                cmd = getattr(module, attr)
            except (ImportError, AttributeError) as exc:
                reason = f"{type(exc).__name__}: {exc}"

                @click.command(cmd_name, help="(unavailable in this installation)")
                def unavailable() -> None:
                    click.echo(f"chaoskit: error: `chaoskit {cmd_name}` is unavailable: {reason}",
                               err=True)  # fmt: skip
                    sys.exit(EXIT_CONFIG_ERROR)

                return unavailable
            if isinstance(cmd, click.Command):
                return cmd
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chaoskit", prog_name="chaoskit")
@click.option(
    "--pyproject",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="pyproject.toml with [tool.chaoskit] defaults (default: the nearest one).",
)
@click.pass_context
def main(ctx: click.Context, pyproject: str | None) -> None:
    """chaoskit: chaos engineering, fault injection and reliability testing."""
    try:
        ctx.obj = load_defaults(pyproject)
    except ConfigError as exc:
        _fail_config(exc)


def _thresholds(
    name: str | None, min_rate: float | None, defaults: CliDefaults
) -> Thresholds | None:
    t: Thresholds | None = preset(name) if name else None
    if min_rate is not None:
        t = (t or defaults.thresholds or preset("default")).replace(min_success_rate=min_rate)
    return t


def _metrics_exporter(port: int) -> Any:
    try:
        from chaoskit.report.prometheus import PrometheusExporter
    except ImportError as exc:
        raise ConfigError(f"--metrics-port needs prometheus-client: {exc}") from None
    exporter = PrometheusExporter(port=port).start()
    click.echo(f"chaoskit: serving metrics on {exporter.url}", err=True)
    return exporter


def _file_stem(scenario: str) -> str:
    """The scenario's name made safe as a file name (no path separators)."""
    return re.sub(r'[\x00-\x1f/\\:*?"<>|]+', "_", scenario).strip(" .") or "scenario"


def _write(report: Any, path: str | Path, fmt: str | None = None) -> None:
    """Write a report file; an unwritable path is a configuration error (exit 2)."""
    try:
        write_report(report, path, fmt)
    except OSError as exc:
        _fail_config(ConfigError(f"cannot write the report: {exc}", source=str(path)))


def _per_scenario(path: str, scenario: str, many: bool) -> Path:
    p = Path(path)
    return p.with_name(f"{p.stem}-{_file_stem(scenario)}{p.suffix}") if many else p


def _threshold_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--unstable-fails/--no-unstable-fails",
        default=None,
        help="Exit 1 on UNSTABLE too (warnings fail CI).",
    )(fn)
    fn = click.option(
        "--min-success-rate", type=click.FloatRange(0, 1), help="Override the minimum success rate."
    )(fn)
    fn = click.option(
        "--thresholds",
        "thresholds_name",
        type=click.Choice(sorted(PRESETS), case_sensitive=False),
        help="Verdict thresholds preset.",
    )(fn)
    return fn


@main.command("run")
@click.argument("targets", nargs=-1, required=True)
@click.option("--seed", type=int, help="Seed for every scenario (replays a run).")
@click.option("--repeat", type=click.IntRange(min=1), help="Iterations (replaces run_for).")
@click.option("--run-for", help="Run for a duration like 30s or 5m (replaces repeat).")
@click.option("--workers", type=click.IntRange(min=1), help="Concurrent workers.")
@_threshold_options
@click.option(
    "-o", "--report", "reports", multiple=True, help="Write a report; the format comes from the "
    "suffix (.txt .json .xml .html). Repeatable."
)  # fmt: skip
@click.option("--report-dir", help="Write all four reports into this directory.")
@click.option("--events", "events_path", help="Record the event log (JSON Lines) here.")
@click.option("--progress/--no-progress", default=None, help="Live progress (default: on a TTY).")
@click.option("--fail-fast", is_flag=True, default=None, help="Stop at the first failed iteration.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the verdict line.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="warning",
    show_default=True,
    help="Log level of the run's structured logs (stderr).",
)
@click.option("--json-logs", is_flag=True, help="Log JSON lines instead of text.")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics while running (chaoskit[prometheus]).",
)
@click.pass_obj
def run_command(
    defaults: CliDefaults,
    targets: tuple[str, ...],
    seed: int | None,
    repeat: int | None,
    run_for: str | None,
    workers: int | None,
    thresholds_name: str | None,
    min_success_rate: float | None,
    unstable_fails: bool | None,
    reports: tuple[str, ...],
    report_dir: str | None,
    events_path: str | None,
    progress: bool | None,
    fail_fast: bool | None,
    quiet: bool,
    log_level: str,
    json_logs: bool,
    metrics_port: int | None,
) -> None:
    """Run scenarios: FILE.py[::NAME] or a .toml/.yaml scenario file."""
    import chaoskit as ck
    from chaoskit.units import parse_duration

    try:
        cli_thresholds = _thresholds(thresholds_name, min_success_rate, defaults)
        scenarios = _collect(targets)
        for r in reports:
            format_for_path(r)
        changes: dict[str, Any] = {}
        if seed is not None:
            changes["seed"] = seed
        if repeat is not None:
            changes.update(repeat=repeat, run_for=None)
        if run_for is not None:
            changes.update(run_for=parse_duration(run_for, what="--run-for"), repeat=None)
        if workers is not None:
            changes["workers"] = workers
        if cli_thresholds is not None:
            changes["thresholds"] = cli_thresholds
        scenarios = [dataclasses.replace(s, **changes) for s in scenarios]
        if seed is None and defaults.seed is not None:  # a default: the scenario's own wins
            scenarios = [
                dataclasses.replace(s, seed=defaults.seed) if s.seed is None else s
                for s in scenarios
            ]
        subscribers: list[Any] = []
        if metrics_port is not None:
            subscribers.append(_metrics_exporter(metrics_port))
    except ConfigError as exc:
        _fail_config(exc)

    policy = (
        ck.FAIL_FAST
        if (fail_fast or (fail_fast is None and defaults.fail_fast))
        else (ck.CONTINUE_ON_FAILURE)
    )
    events = events_path or defaults.events
    many = len(scenarios) > 1
    worst = Verdict.PASS
    out_dir = report_dir or defaults.report_dir
    for scenario in scenarios:
        executor = ck.Executor(
            failure_policy=policy,
            thresholds=defaults.thresholds,
            events_path=_per_scenario(events, scenario.name, many) if events else None,
            progress=progress if progress is not None else defaults.progress,
            log_level=log_level.lower(),
            json_logs=json_logs,
            subscribers=subscribers,
        )
        try:
            report = executor.run(scenario)
        except Exception as exc:  # the target's setup() or an injector's start() raised
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{frame.filename}:{frame.lineno}"
            if isinstance(exc, ConfigError):
                for sub in subscribers:
                    sub.stop()
                _fail_config(ConfigError(f"scenario {scenario.name!r}: {exc}"))
            click.echo(f"chaoskit: scenario {scenario.name!r} could not run: "
                       f"{type(exc).__name__}: {exc} (at {where})", err=True)  # fmt: skip
            if quiet:
                click.echo(f"{Verdict.FAIL}  {scenario.name}  (could not run)")
            worst = Verdict.FAIL
            continue
        verdict = report.verdict
        worst = max(worst, verdict, key=lambda v: v.rank)
        if quiet:
            click.echo(f"{verdict}  {scenario.name}  seed={report.seed}  "
                       f"success={report.success_rate:.2%}")  # fmt: skip
        else:
            click.echo(report.to_text())
        for path in reports:
            _write(report, _per_scenario(path, scenario.name, many))
        formats = list(defaults.reports) or (list(FORMATS) if out_dir else [])
        if out_dir:
            for fmt in formats:
                stem = _file_stem(scenario.name)
                _write(report, Path(out_dir) / f"{stem}{_SUFFIX[fmt]}", fmt)
    for sub in subscribers:
        sub.stop()
    strict = unstable_fails if unstable_fails is not None else defaults.unstable_fails
    if many:
        click.echo(f"chaoskit: {len(scenarios)} scenarios, overall verdict {worst}")
    sys.exit(exit_code(worst, unstable_fails=strict))


@main.command("report")
@click.argument("events", type=click.Path(dir_okay=False))
@click.option(
    "-f", "--format", "fmt", type=click.Choice(FORMATS), help="Report format (default: from -o, "
    "else text)."
)  # fmt: skip
@click.option("-o", "--output", help="Write here instead of stdout.")
@_threshold_options
@click.option("--exit-zero", is_flag=True, help="Exit 0 whatever the verdict.")
@click.pass_obj
def report_command(
    defaults: CliDefaults,
    events: str,
    fmt: str | None,
    output: str | None,
    thresholds_name: str | None,
    min_success_rate: float | None,
    unstable_fails: bool | None,
    exit_zero: bool,
) -> None:
    """Rebuild a report from a recorded event log (events.jsonl)."""
    from chaoskit.events import read_events
    from chaoskit.report.model import Report

    try:
        t = _thresholds(thresholds_name, min_success_rate, defaults)
        if not Path(events).is_file():
            raise ConfigError("no such event log", source=events)
        try:
            recorded = list(read_events(events))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the event log: {exc}", source=events) from None
        except ConfigError as exc:
            if exc.source is not None:
                raise
            raise ConfigError(exc.message, source=events) from None
        if not recorded:
            raise ConfigError("no events (is it a chaoskit event log?)", source=events)
        report = Report.from_events(recorded, thresholds=t)
        if t is None and defaults.thresholds is not None and report.thresholds_source == "default":
            report = report.with_thresholds(defaults.thresholds)
        fmt = fmt or (format_for_path(output) if output else "text")
    except ConfigError as exc:
        _fail_config(exc)
    if output:
        _write(report, output, fmt)
        click.echo(f"{report.verdict}: wrote {fmt} report to {output}", err=True)
    else:
        click.echo(render(report, fmt), nl=False)
    if exit_zero:
        sys.exit(0)
    strict = unstable_fails if unstable_fails is not None else defaults.unstable_fails
    sys.exit(exit_code(report.verdict, unstable_fails=strict))


if __name__ == "__main__":  # pragma: no cover
    main()
