"""What an instrumented run did, per target: collected per process, merged, printed.

Each process (the wrapper and every instrumented child) takes a :func:`snapshot` at exit;
children write theirs as JSON into the run's stats directory, and the wrapper merges them
into one :class:`RunSummary` for the stderr summary and the ``--report`` JSON.
"""

from __future__ import annotations

import os

# Start-up time: the wrapper imports this module at every exit; json loads when a report
# is written or children reported, typing only for the type checker.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RunSummary", "TargetSummary", "merge", "snapshot"]

_RANK = {"patched": 3, "registered": 3, "unresolved": 2, "never imported": 1, "never registered": 1}


class TargetSummary:
    """One ``-f`` entry across all processes."""

    __slots__ = (
        "error",
        "firings",
        "hits",
        "kind",
        "name",
        "processes",
        "status",
        "terms",
        "where",
    )

    def __init__(
        self,
        name: str,
        terms: str,
        kind: str,  # "function" or "failpoint"
        status: str,
        hits: int = 0,
        firings: int = 0,
        processes: int = 0,
        where: str | None = None,
        error: str | None = None,
    ) -> None:
        self.name = name
        self.terms = terms
        self.kind = kind
        self.status = status
        self.hits = hits
        self.firings = firings
        self.processes = processes
        self.where = where
        self.error = error

    @property
    def ok(self) -> bool:
        return self.status in ("patched", "registered")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "terms": self.terms,
            "kind": self.kind,
            "status": self.status,
            "hits": self.hits,
            "firings": self.firings,
            "processes": self.processes,
            "where": self.where,
            "error": self.error,
        }


class RunSummary:
    """The merged result of a run: what the stderr summary and ``--report`` show."""

    def __init__(
        self, program: str, seed: int, targets: list[TargetSummary], processes: int = 1
    ) -> None:
        self.program = program
        self.seed = seed
        self.targets = targets
        self.processes = processes
        self.exit_code: int | None = None
        self.max_depths: dict[str, int] = {}
        self.notes: list[str] = []

    def problems(self) -> list[TargetSummary]:
        return [t for t in self.targets if not t.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": "chaoskit.instrument",
            "version": 1,
            "program": self.program,
            "seed": self.seed,
            "exit_code": self.exit_code,
            "processes": self.processes,
            "targets": [t.to_dict() for t in self.targets],
            "max_depths": dict(sorted(self.max_depths.items())),
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    def to_text(self) -> str:
        procs = f", {self.processes} processes" if self.processes > 1 else ""
        lines = [f"chaoskit instrument: {self.program} (seed {self.seed}{procs})"]
        if not self.targets:
            lines.append("  no failpoints or targets")
        width = max((len(t.name) for t in self.targets), default=0)
        for t in self.targets:
            line = (
                f"  {t.name:<{width}}  {t.status:<16}  hits {t.hits:<6} firings {t.firings:<6} "
                f"{t.terms}"
            )
            if t.where and t.where != t.name:
                line += f"  [{t.where}]"
            if t.error and not t.ok:
                line += f"  ({t.error})"
            lines.append(line.rstrip())
        for function, depth in sorted(self.max_depths.items()):
            lines.append(f"  max depth {depth:<5} {function}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines) + "\n"


def snapshot(entries: list[tuple[str, str]], main_status: dict[str, str]) -> dict[str, Any]:
    """This process's view of every entry: status, where, hits, firings."""
    from chaoskit.failpoints import registry
    from chaoskit.hooks import patcher

    states = {s["target"]: s for s in patcher.target_states()}
    registered = registry.registered()
    out: dict[str, Any] = {}
    for name, terms in entries:
        hits, fired = registry.counts(name)
        if ":" in name:
            kind = "function"
            state = states.get(name)
            if name in main_status:
                status, where, error = main_status[name], name, None
                if status != "patched":
                    error = "no such function in __main__"
            elif state is not None:
                status, where, error = state["status"], state["where"], state["error"]
            else:
                status, where, error = "never imported", None, None
        else:
            kind, where, error = "failpoint", None, None
            status = "registered" if name in registered else "never registered"
        out[name] = {
            "terms": terms,
            "kind": kind,
            "status": status,
            "where": where,
            "error": error,
            "hits": hits,
            "firings": fired,
        }
    return {"pid": os.getpid(), "targets": out}


def read_children(stats_dir: str) -> list[dict[str, Any]]:
    """The snapshots that instrumented children wrote into ``stats_dir``."""
    try:
        names = sorted(n for n in os.listdir(stats_dir) if n.endswith(".json"))
    except OSError:
        return []
    if not names:
        return []
    import json

    out = []
    for name in names:
        try:
            with open(os.path.join(stats_dir, name), encoding="utf-8") as fh:
                out.append(json.load(fh))
        except (OSError, ValueError):
            continue
    return out


def merge(
    program: str,
    seed: int,
    entries: list[tuple[str, str]],
    snapshots: list[dict[str, Any]],
) -> RunSummary:
    targets: list[TargetSummary] = []
    for name, terms in entries:
        kind = "function" if ":" in name else "failpoint"
        t = TargetSummary(
            name, terms, kind, "never imported" if kind == "function" else "never registered"
        )
        best = -1
        for snap in snapshots:
            entry = snap.get("targets", {}).get(name)
            if entry is None:
                continue
            t.processes += 1
            t.hits += int(entry.get("hits", 0))
            t.firings += int(entry.get("firings", 0))
            rank = _RANK.get(entry.get("status", ""), 0)
            if rank > best:
                best = rank
                t.status = entry["status"]
                t.where = entry.get("where") or t.where
                t.error = entry.get("error")
        targets.append(t)
    return RunSummary(program=program, seed=seed, targets=targets, processes=len(snapshots))
