"""The term grammar: parsing, canonical text and the errors users see."""

from __future__ import annotations

import pytest

from chaoskit.errors import ConfigError
from chaoskit.failpoints.terms import (
    Duration,
    parse_duration,
    parse_entries,
    parse_terms,
)


def test_modifiers_parse_in_either_order() -> None:
    a = parse_terms("50%3*return(1)")
    b = parse_terms("3*50%return(1)")
    assert a == b
    term = a.terms[0]
    assert (term.probability, term.count, term.action, term.value) == (50.0, 3, "return", 1)
    assert str(a) == "50%3*return(1)"


def test_chain_with_arrows_and_spaces() -> None:
    terms = parse_terms(" 20%3*print(still alive) -> panic ")
    assert [t.action for t in terms] == ["print", "panic"]
    assert terms.terms[0].args == ("still alive",)
    assert str(terms) == "20%3*print(still alive)->panic"


def test_fractional_probability_without_leading_zero() -> None:
    assert parse_terms(".5%off").terms[0].probability == 0.5
    assert str(parse_terms(".5%off")) == "0.5%off"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("return(42)", 42),
        ("return('x')", "x"),
        ('return("two words")', "two words"),
        ("return(None)", None),
        ("return([1, 2])", [1, 2]),
        ("return({'a': 1})", {"a": 1}),
        ("return(bare word)", "bare word"),
        ("return(true)", True),
        ("return(false)", False),
        ("return(nil)", None),
        ("return()", None),
        ("return(1.5)", 1.5),
    ],
)
def test_return_values_are_python_literals_or_bare_strings(text: str, value: object) -> None:
    assert parse_terms(text).terms[0].value == value


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("100", 0.1, None),
        ("100ms", 0.1, None),
        ("1.5s", 1.5, None),
        ("200us", 0.0002, None),
        ("10ms..50ms", 0.01, 0.05),
        ("10..50", 0.01, 0.05),
        ("0", 0.0, None),
    ],
)
def test_durations(text: str, low: float, high: float | None) -> None:
    d = parse_duration(text)
    assert d.low == pytest.approx(low)
    if high is None:
        assert d.high is None
    else:
        assert d.high == pytest.approx(high)


def test_duration_range_draws_within_bounds() -> None:
    import random

    d = Duration(0.01, 0.05)
    rng = random.Random(1)
    draws = [d.draw(rng) for _ in range(200)]
    assert all(0.01 <= x <= 0.05 for x in draws)
    assert max(draws) - min(draws) > 0.02


def test_raise_arguments() -> None:
    t = parse_terms("raise(OSError, 28)").terms[0]
    assert t.args == ("OSError", 28)
    t = parse_terms("raise(myapp.errors:Conflict, 'busy')").terms[0]
    assert t.args == ("myapp.errors:Conflict", "busy")


def test_separators_inside_parentheses_and_quotes_are_text() -> None:
    t = parse_terms("print(a->b;c)->off")
    assert t.terms[0].args == ("a->b;c",)
    t = parse_terms('panic("x)y")')
    assert t.terms[0].args == ("x)y",)
    assert parse_terms("print(don't panic)").terms[0].args == ("don't panic",)


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "empty terms", 0),
        ("foo", "unknown action 'foo'", 0),
        ("50%", "expected an action", 3),
        ("101%off", "not within 0-100", 0),
        ("3.5*off", "not an integer", 0),
        ("50%50%off", "probability given twice", 3),
        ("2*3*off", "count given twice", 2),
        ("sleep", "sleep needs an argument", 5),
        ("sleep(abc)", "bad duration 'abc'", 6),
        ("sleep(50ms..10ms)", "runs backwards", 6),
        ("raise(Nope)", "unknown exception 'Nope'", 6),
        ("raise(1bad)", "bad exception name", 6),
        ("call(nocolon)", "call needs 'module:function'", 5),
        ("return(1", "missing ')'", 8),
        ("return(1))", "unbalanced ')'", 9),
        ("off(1)", "off takes no argument", 4),
        ("return(1)->", "empty term", 11),
        ("5x", "expected '%' or '*'", 1),
        ("off return", "unexpected ' '", 3),
    ],
)
def test_malformed_terms_name_the_position(text: str, message: str, position: int) -> None:
    with pytest.raises(ConfigError) as info:
        parse_terms(text, source="entry 'x'")
    err = info.value
    assert message in str(err)
    assert "entry 'x'" in str(err)
    assert err.position == position
    assert isinstance(err, ValueError)


def test_entries_split_trim_and_skip_empty() -> None:
    entries = parse_entries(
        " a=return(1) ;; db/commit-before-fsync=sleep(1s); myapp.store:Repo.save=20%3*print(x)->panic ;"
    )
    assert [name for name, _ in entries] == ["a", "db/commit-before-fsync", "myapp.store:Repo.save"]
    assert str(entries[2][1]) == "20%3*print(x)->panic"


def test_entries_split_at_first_equals() -> None:
    [(name, terms)] = parse_entries("a=return(x=1)")
    assert name == "a"
    assert terms.terms[0].value == "x=1"


def test_entries_from_a_file_allow_newlines_and_comments() -> None:
    text = "# staging faults\nslow=sleep(10)\n\nfail=10%raise(OSError)  \n"
    assert [n for n, _ in parse_entries(text)] == ["slow", "fail"]


def test_malformed_entry_names_entry_and_absolute_position() -> None:
    text = "a=return(1);b=sleep(x)"
    with pytest.raises(ConfigError) as info:
        parse_entries(text, source="CHAOSKIT_FAILPOINTS")
    err = info.value
    assert "entry 'b'" in str(err)
    assert "CHAOSKIT_FAILPOINTS" in str(err)
    assert err.position == text.index("x")


@pytest.mark.parametrize("text", ["noequals", "=return(1)", "a b=off", "a=off;a=return(1)"])
def test_bad_entries(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_entries(text)


def test_terms_are_frozen_and_hashable() -> None:
    terms = parse_terms("return(1)->off")
    with pytest.raises(AttributeError):
        terms.terms = ()  # type: ignore[misc]
    assert hash(parse_terms("sleep(10)")) == hash(parse_terms("sleep(10)"))


def test_all_off_terms_mean_disabled() -> None:
    assert parse_terms("off").is_off
    assert parse_terms("off->off").is_off
    assert not parse_terms("2*off->return(1)").is_off
    assert not parse_terms("50%off").is_off
