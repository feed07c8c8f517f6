"""Property tests: any text parses or raises ConfigError; parse -> str -> parse is stable."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaoskit.errors import ConfigError
from chaoskit.failpoints.terms import ACTIONS, parse_entries, parse_terms

FUZZ_EXAMPLES = 1500

_alphabet = st.sampled_from(list("0123456789.%*->()=;:,'\" abcdefghijklmnoprstuvwxyzOSE_\n#[]{}"))
_soup = st.text(alphabet=_alphabet, max_size=40)
_any_text = st.one_of(_soup, st.text(max_size=40))


@settings(max_examples=FUZZ_EXAMPLES, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_any_text)
def test_random_terms_parse_or_raise_config_error(text: str) -> None:
    try:
        terms = parse_terms(text)
    except ConfigError as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)
        return
    again = parse_terms(str(terms))
    assert again == terms
    assert str(again) == str(terms)


@settings(max_examples=FUZZ_EXAMPLES, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_any_text)
def test_random_entries_parse_or_raise_config_error(text: str) -> None:
    try:
        entries = parse_entries(text)
    except ConfigError:
        return
    canonical = ";".join(f"{n}={t}" for n, t in entries)
    assert parse_entries(canonical) == entries


_number = st.one_of(
    st.integers(0, 100).map(str),
    st.decimals(0, 100, places=3, allow_nan=False, allow_infinity=False).map(str),
)
_duration = st.one_of(
    st.integers(0, 5000).map(str),
    st.builds(lambda n, u: f"{n}{u}", st.integers(0, 999), st.sampled_from(["us", "ms", "s"])),
)
_literal = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.text(alphabet="abc xyz", min_size=1, max_size=8).map(repr),
    st.sampled_from(["None", "True", "[1, 2]", "{'k': 1}", "bare", "true", "3.25"]),
)


@st.composite
def _term(draw: st.DrawFn) -> str:
    action = draw(st.sampled_from(sorted(ACTIONS)))
    mods = []
    if draw(st.booleans()):
        mods.append(draw(_number) + "%")
    if draw(st.booleans()):
        mods.append(f"{draw(st.integers(0, 50))}*")
    if draw(st.booleans()):
        mods.reverse()
    args = ""
    if action == "return" and draw(st.booleans()):
        args = f"({draw(_literal)})"
    elif action in ("sleep", "delay"):
        args = f"({draw(_duration)})"
    elif action in ("panic", "print") and draw(st.booleans()):
        args = f"({draw(st.text(alphabet='abc xyz!', max_size=10))})"
    elif action == "raise":
        args = f"({draw(st.sampled_from(['OSError', 'TimeoutError', 'pkg.mod:Err']))})"
    elif action == "call":
        args = "(pkg.mod:func)"
    return "".join(mods) + action + args


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.lists(_term(), min_size=1, max_size=4))
def test_generated_valid_terms_round_trip(parts: list[str]) -> None:
    text = "->".join(parts)
    terms = parse_terms(text)
    assert len(terms) == len(parts)
    assert parse_terms(str(terms)) == terms
    assert str(parse_terms(str(terms))) == str(terms)
