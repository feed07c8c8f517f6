"""Terms as the fail-rs, pingcap/failpoint and gofail documentation writes them.

Each row: where the term comes from, the term, and what ``n`` consecutive hits must do.
Outcomes: ``-`` nothing fired (or a fired ``off``/``print``/``sleep``), ``=v`` the
failpoint's value ``v``, ``!Name`` an exception of that type.
"""

from __future__ import annotations

import time

import pytest

from chaoskit.errors import ChaosPanic
from chaoskit.failpoints import registry
from chaoskit.rng import reseed_global


def outcomes(name: str, n: int) -> list[str]:
    out = []
    for _ in range(n):
        try:
            value = registry.evaluate(name)
        except ChaosPanic:
            out.append("!panic")
        except Exception as exc:
            out.append(f"!{type(exc).__name__}")
        else:
            out.append("-" if value is registry.NO_VALUE else f"={value!r}")
    return out


CONFORMANCE = [
    # fail-rs (tikv/fail-rs README and docs)
    ("fail-rs", "return", 2, ["=None", "=None"]),
    ("fail-rs", "return(1)", 1, ["=1"]),
    ("fail-rs", "off", 2, ["-", "-"]),
    ("fail-rs", "panic", 1, ["!panic"]),
    ("fail-rs", "panic(msg)", 1, ["!panic"]),
    ("fail-rs", "print(still alive!)", 2, ["-", "-"]),
    ("fail-rs", "3*print(still alive!)->panic", 5, ["-", "-", "-", "!panic", "!panic"]),
    ("fail-rs", "1*return(first)->return(second)", 3, ["='first'", "='second'", "='second'"]),
    ("fail-rs", "2*off->return(1)", 4, ["-", "-", "=1", "=1"]),
    ("fail-rs", "100%return(x)", 2, ["='x'", "='x'"]),
    ("fail-rs", "0%return(x)", 3, ["-", "-", "-"]),
    ("fail-rs", "sleep(1)", 1, ["-"]),
    ("fail-rs", "delay(1)", 1, ["-"]),
    ("fail-rs", "yield", 1, ["-"]),
    # pingcap/failpoint (README: failpoint.Enable terms)
    ("pingcap", "return(5)", 1, ["=5"]),
    ("pingcap", "return(true)", 1, ["=True"]),
    ("pingcap", 'return("hello")', 1, ["='hello'"]),
    ("pingcap", "1*return(true)", 2, ["=True", "-"]),
    ("pingcap", '1*return("hello")->return("world")', 2, ["='hello'", "='world'"]),
    ("pingcap", "sleep(10)", 1, ["-"]),
    ("pingcap", "3*50%return(1)->off", None, None),
    # gofail (etcd-io/gofail README)
    ("gofail", 'return("abc")', 1, ["='abc'"]),
    ("gofail", 'panic("oops")', 1, ["!panic"]),
    ("gofail", "1*return(1)->2*return(2)", 4, ["=1", "=2", "=2", "-"]),
    ("gofail", 'print("hello")', 1, ["-"]),
    # chaoskit's own additions
    ("chaoskit", "raise(OSError)", 1, ["!OSError"]),
    ("chaoskit", "raise(TimeoutError, 'slow')", 1, ["!TimeoutError"]),
    ("chaoskit", "raise(chaoskit.errors:ChaosError)", 1, ["!ChaosError"]),
    ("chaoskit", "sleep(1ms..3ms)", 1, ["-"]),
    ("chaoskit", "call(tests_fp_helpers:answer)", 1, ["=42"]),
]


@pytest.mark.parametrize(
    ("origin", "terms", "hits", "expected"),
    [row for row in CONFORMANCE if row[2] is not None],
    ids=[f"{r[0]}:{r[1]}" for r in CONFORMANCE if r[2] is not None],
)
def test_conformance(origin: str, terms: str, hits: int, expected: list[str], fp_name: str) -> None:
    registry.enable(fp_name, terms)
    assert outcomes(fp_name, hits) == expected


def test_probability_and_count_together(fp_name: str) -> None:
    """``3*50%return(1)->off``: at most three values, about half the hits until then."""
    reseed_global(7)
    registry.enable(fp_name, "3*50%return(1)->off")
    got = outcomes(fp_name, 40)
    assert got.count("=1") == 3
    assert set(got) == {"=1", "-"}
    st = registry.status()[fp_name]
    assert st.per_term[0].fired == 3 and st.per_term[0].remaining == 0


def test_probability_is_roughly_respected(fp_name: str) -> None:
    reseed_global(11)
    registry.enable(fp_name, "20%return(1)")
    got = outcomes(fp_name, 2000)
    assert 300 < got.count("=1") < 500


def test_sleep_really_sleeps(fp_name: str) -> None:
    registry.enable(fp_name, "sleep(50ms)")
    start = time.perf_counter()
    registry.evaluate(fp_name)
    assert time.perf_counter() - start >= 0.045


def test_delay_busy_waits(fp_name: str) -> None:
    registry.enable(fp_name, "delay(100)")
    wall, cpu = time.perf_counter(), time.process_time()
    registry.evaluate(fp_name)
    assert time.perf_counter() - wall >= 0.098
    # Held the CPU (unlike sleep); generous: the machine is shared and noisy.
    assert time.process_time() - cpu >= 0.02


def test_errno_style_raise(fp_name: str) -> None:
    registry.enable(fp_name, "raise(OSError, 28)")
    with pytest.raises(OSError) as info:
        registry.evaluate(fp_name)
    assert info.value.errno == 28


def test_unresolvable_exception_path_is_a_config_error(fp_name: str) -> None:
    from chaoskit.errors import ConfigError

    registry.enable(fp_name, "raise(no_such_module_xyz:Boom)")
    with pytest.raises(ConfigError, match="no_such_module_xyz"):
        registry.evaluate(fp_name)


def test_call_receives_the_hit(fp_name: str) -> None:
    import tests_fp_helpers

    tests_fp_helpers.seen.clear()
    registry.enable(fp_name, "call(tests_fp_helpers:record, 'extra')")
    assert registry.evaluate(fp_name) is registry.NO_VALUE  # record() returns None
    [hit] = tests_fp_helpers.seen
    assert hit.name == fp_name and hit.args == ("extra",) and hit.hits == 1


def test_print_logs_a_record(fp_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    with structlog.testing.capture_logs() as logs:
        registry.enable(fp_name, "print(still alive)")
        registry.evaluate(fp_name)
    assert any(
        rec.get("failpoint") == fp_name and rec.get("message") == "still alive" for rec in logs
    )


def test_break_calls_the_breakpoint_hook(fp_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    calls: list[int] = []
    monkeypatch.setattr(sys, "breakpointhook", lambda *a, **k: calls.append(1))
    registry.enable(fp_name, "break")
    registry.evaluate(fp_name)
    assert calls == [1]
