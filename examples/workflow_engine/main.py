"""The flagship demo: a saga orchestrator under delays, errors and panics.

    make demo            (or: python examples/workflow_engine/main.py [--iterations N])

The engine's rollback recurses when a compensation fails; chaoskit checks the recursion
stays bounded (the probe measures it: the engine does not report it), that no thread
leaks, that nothing hangs, that every injected panic is recovered, and that the ledger
stays consistent. It ends with a verdict and writes the reports (text, JSON, JUnit, HTML)
under out/workflow_engine/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from saga import SagaEngine  # noqa: E402

import chaoskit as ck  # noqa: E402
from chaoskit import injectors, validators  # noqa: E402


def build(
    iterations: int, seed: int | None, max_retries: int = 8, error_rate: float = 0.02
) -> ck.Scenario:
    engine = SagaEngine(max_compensation_retries=max_retries)

    def execute_workflow(e: SagaEngine) -> None:
        for _ in range(5):
            e.execute()

    builder = (
        ck.scenario("saga-reliability")
        .target(engine)
        .step("execute-workflow", execute_workflow)
        .inject("delay", injectors.random_delay("0.2ms", "1ms", probability=0.3))
        .inject("errors", injectors.error_probability(error_rate))
        .inject("panic", injectors.panic_probability(0.05))
        .check("threads", validators.thread_limit(50))
        .check("no-thread-leak", validators.no_thread_leak())
        .probe("saga:SagaEngine._compensate")  # measures the rollback recursion: no code changes
        .check("recursion", validators.recursion_depth_limit(10))
        .check("no-hang", validators.no_infinite_loop(5.0))
        .check("panics-recovered", validators.panic_recovery())
        .check(
            "ledger",
            validators.state_consistency(lambda e: e.ledger.consistent(), "ledger is consistent"),
        )
        .check("slow", validators.slow_iteration("250ms"))
        .repeat(iterations)
    )
    if seed is not None:
        builder = builder.seed(seed)
    return builder.build()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("out/workflow_engine"))
    parser.add_argument(
        "--max-retries",
        type=int,
        default=8,
        help="compensation retries before giving up (try 1000 with --error-rate 0.6)",
    )
    parser.add_argument("--error-rate", type=float, default=0.02, help="service error probability")
    args = parser.parse_args(argv)

    scenario = build(args.iterations, args.seed, args.max_retries, args.error_rate)
    args.out.mkdir(parents=True, exist_ok=True)
    executor = ck.Executor(
        ck.CONTINUE_ON_FAILURE, events_path=args.out / "events.jsonl", progress=False
    )
    report = executor.run(scenario)
    print(report.to_text())
    written = [args.out / "report.txt", args.out / "report.json"]
    (args.out / "report.txt").write_text(report.to_text())
    (args.out / "report.json").write_text(report.to_json())
    for name, method in (("report.xml", "to_junit_xml"), ("report.html", "to_html")):
        render = getattr(report, method, None)
        if render is not None:
            (args.out / name).write_text(render())
            written.append(args.out / name)
    print("reports: " + ", ".join(str(p) for p in written))
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
