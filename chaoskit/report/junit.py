"""JUnit XML report, as Jenkins, GitLab and GitHub test reporters read it.

One ``<testsuite>`` per run. Its test cases are the thresholds (success rate, failed
iterations, run completed) and one per validator (``validator.<name>``). A violated
critical or warning validator is a ``<failure>`` (``type`` is its severity) whose text
lists the messages; a violated ``info`` validator passes and carries its messages in
``<system-out>``. The verdict, seed and thresholds are suite ``<properties>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from chaoskit.report.model import Report, ValidatorResult

__all__ = ["JUnitReport"]


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(text: str) -> str:
    """Characters XML 1.0 cannot carry (control characters) written as ``\\xNN``."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _sanitise(root: ET.Element) -> None:
    for el in root.iter():
        if el.text:
            el.text = _xml_safe(el.text)
        for key, value in el.attrib.items():
            el.attrib[key] = _xml_safe(value)


def _fmt_time(seconds: float) -> str:
    return f"{max(seconds, 0.0):.3f}"


class JUnitReport:
    """Renders a :class:`Report` as JUnit XML."""

    def __init__(self, report: Report, *, suite_prefix: str = "chaoskit") -> None:
        self.report = report
        self.suite_prefix = suite_prefix

    def _case(self, suite: ET.Element, name: str, time: float = 0.0) -> ET.Element:
        return ET.SubElement(
            suite,
            "testcase",
            {"classname": suite.get("name", ""), "name": name, "time": _fmt_time(time)},
        )

    def _validator_case(self, suite: ET.Element, v: ValidatorResult) -> bool:
        case = self._case(suite, f"validator.{v.name}")
        if v.passed:
            return False
        body = "\n".join(v.messages or [v.message])
        where = (
            f"iterations {v.first_iteration}..{v.last_iteration}"
            if v.first_iteration is not None
            else "end of run"
        )
        text = f"{v.violations} violation(s), {where}\n{body}"
        if v.severity == "info":
            ET.SubElement(case, "system-out").text = text
            return False
        fail = ET.SubElement(
            case,
            "failure",
            {"message": f"[{v.severity}] {v.message}", "type": v.severity},
        )
        fail.text = text
        return True

    def element(self) -> ET.Element:
        r = self.report
        ev = r.evaluate()
        t = r.thresholds
        name = f"{self.suite_prefix}.{r.scenario or 'scenario'}"
        stamp = datetime.fromtimestamp(r.started_at or 0.0, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        suite = ET.Element(
            "testsuite",
            {"name": name, "timestamp": stamp, "time": _fmt_time(r.duration)},
        )
        props = ET.SubElement(suite, "properties")
        for key, value in (
            ("verdict", ev.verdict.value),
            ("seed", str(r.seed)),
            ("iterations", str(r.iterations)),
            ("success_rate", f"{r.success_rate:.4f}"),
            ("thresholds", t.name),
            ("workers", str(r.workers)),
            ("chaoskit_version", r.chaoskit_version),
        ):
            ET.SubElement(props, "property", {"name": key, "value": value})

        failures = errors = 0
        case = self._case(suite, "run.completed", r.duration)
        if r.interrupted or r.iterations == 0:
            errors += 1
            why = (
                f"run interrupted ({r.interrupt_reason or 'stopped'})"
                if r.interrupted
                else "no iteration completed"
            )
            ET.SubElement(case, "error", {"message": why, "type": "interrupted"}).text = why

        case = self._case(suite, "thresholds.success_rate")
        if r.iterations and r.success_rate < t.min_success_rate:
            failures += 1
            msg = (
                f"success rate {r.success_rate:.2%} is under the minimum "
                f"{t.min_success_rate:.2%} (seed {r.seed})"
            )
            fail = ET.SubElement(case, "failure", {"message": msg, "type": "threshold"})
            fail.text = msg + "\n" + self._failure_lines()
        if t.max_failed_iterations is not None:
            case = self._case(suite, "thresholds.max_failed_iterations")
            if r.failed_iterations > t.max_failed_iterations:
                failures += 1
                msg = (
                    f"{r.failed_iterations} failed iteration(s), more than the "
                    f"{t.max_failed_iterations} allowed (seed {r.seed})"
                )
                fail = ET.SubElement(case, "failure", {"message": msg, "type": "threshold"})
                fail.text = msg + "\n" + self._failure_lines()

        for v in r.verdicts.values():
            failures += self._validator_case(suite, v)

        out = ET.SubElement(suite, "system-out")
        out.text = r.to_text()
        suite.set("tests", str(sum(1 for c in suite if c.tag == "testcase")))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", "0")
        root = ET.Element(
            "testsuites",
            {
                "name": self.suite_prefix,
                "tests": suite.get("tests", "0"),
                "failures": str(failures),
                "errors": str(errors),
                "time": _fmt_time(r.duration),
            },
        )
        root.append(suite)
        return root

    def _failure_lines(self, limit: int = 10) -> str:
        fs = self.report.failures
        lines = [f"#{f.iteration} {f.step or 'validators'}: {f.error}" for f in fs[:limit]]
        total = max(self.report.failed_iterations, len(fs))
        if total > limit:
            lines.append(f"... and {total - limit} more")
        return "\n".join(lines)

    def render(self) -> str:
        root = self.element()
        _sanitise(root)
        ET.indent(root, space="  ")
        body = ET.tostring(root, encoding="unicode")
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
