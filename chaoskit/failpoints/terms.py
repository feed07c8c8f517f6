"""The failpoint term language (``specs/failpoints.md``).

``parse_terms("20%3*print(still alive)->panic")`` returns frozen :class:`Terms`;
``str(terms)`` is a canonical spelling that parses back to an equal value.
``parse_entries("a=return(1); b=sleep(10ms)")`` splits an activation string.

Every malformed input raises :class:`chaoskit.errors.ConfigError` naming the entry
(``source``) and the 0-based position in the text.
"""

from __future__ import annotations

import builtins
import re

from chaoskit._frozen import Frozen
from chaoskit.errors import ConfigError

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time
if TYPE_CHECKING:
    import random

__all__ = [
    "ACTIONS",
    "Duration",
    "Term",
    "Terms",
    "format_entries",
    "parse_duration",
    "parse_entries",
    "parse_terms",
]

ACTIONS = frozenset(
    {
        "off",
        "return",
        "sleep",
        "delay",
        "panic",
        "raise",
        "print",
        "pause",
        "yield",
        "break",
        "call",
    }
)
_NO_ARGS = frozenset({"off", "pause", "yield", "break"})
_NEEDS_ARGS = frozenset({"sleep", "delay", "raise", "call"})
# Go spellings in gofail/pingcap terms, so `return(true)` means what it meant there.
_GO_WORDS: dict[str, object] = {"true": True, "false": False, "nil": None, "null": None}

_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_ACTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s)?\s*$")
_DOTTED = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*(?::[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)?$")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, None: 1e-3}


class Duration(Frozen):
    """A duration in seconds, or a range drawn uniformly from the seeded RNG."""

    __slots__ = ("high", "low")
    _fields = ("low", "high")
    low: float
    high: float | None

    def __init__(self, low: float, high: float | None = None) -> None:
        self._set(low=low, high=high)

    def draw(self, rng: random.Random) -> float:
        if self.high is None or self.high == self.low:
            return self.low
        return self.low + (self.high - self.low) * rng.random()


class Term(Frozen):
    """One term: ``[p%][n*]action[(args)]``.

    ``probability`` is in percent (None = always), ``count`` the number of firings left
    at activation (None = unlimited). ``args`` holds the parsed arguments:
    ``return`` -> (value,), ``sleep``/``delay`` -> (Duration,), ``panic``/``print`` ->
    (message,), ``raise`` -> (exception path, *literal args), ``call`` -> (path, *args).
    ``arg_text`` keeps the argument text as written (None when there were no parens).
    """

    __slots__ = ("action", "arg_text", "args", "count", "probability")
    _fields = ("action", "probability", "count", "args", "arg_text")
    action: str
    probability: float | None
    count: int | None
    args: tuple[object, ...]
    arg_text: str | None

    def __init__(
        self,
        action: str,
        probability: float | None = None,
        count: int | None = None,
        args: tuple[object, ...] = (),
        arg_text: str | None = None,
    ) -> None:
        self._set(action=action, probability=probability, count=count, args=args, arg_text=arg_text)

    def __str__(self) -> str:
        out = ""
        if self.probability is not None:
            out += f"{_fmt_number(self.probability)}%"
        if self.count is not None:
            out += f"{self.count}*"
        out += self.action
        if self.arg_text is not None:
            out += f"({self.arg_text})"
        return out

    def __hash__(self) -> int:
        # args may hold unhashable literals (lists); the written form identifies the term.
        return hash((self.action, self.probability, self.count, self.arg_text))

    @property
    def value(self) -> object:
        """The value of a ``return`` term (None for every other action)."""
        return self.args[0] if self.action == "return" and self.args else None


class Terms(Frozen):
    """A parsed ``term->term->...`` chain; ``str()`` gives the canonical text."""

    __slots__ = ("terms",)
    _fields = ("terms",)
    terms: tuple[Term, ...]

    def __init__(self, terms: tuple[Term, ...]) -> None:
        self._set(terms=terms)

    def __str__(self) -> str:
        return "->".join(str(t) for t in self.terms)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.terms)

    def __len__(self) -> int:
        return len(self.terms)

    @property
    def is_off(self) -> bool:
        """True when every term is an unconditional ``off``: the failpoint is disabled."""
        return all(
            t.action == "off" and t.probability is None and t.count is None for t in self.terms
        )


def _fmt_number(p: float) -> str:
    if float(p).is_integer():
        return str(int(p))
    from decimal import Decimal  # only for fractional percentages

    return format(Decimal(repr(float(p))), "f")


def _error(message: str, text: str, position: int, source: str | None) -> ConfigError:
    return ConfigError(message, text=text, position=position, source=source)


# --- low-level scanning ----------------------------------------------------------------


def _opens_quote(text: str, i: int) -> bool:
    """A quote starts a string only at the start of an argument (``don't`` is text)."""
    j = i - 1
    while j >= 0 and text[j].isspace():
        j -= 1
    return j < 0 or text[j] in "(,[{:="


def _split_top(
    text: str, sep: str, start: int, source: str | None, *, strict: bool = True
) -> list[tuple[int, str]]:
    """Split ``text`` at ``sep`` outside parentheses and quotes: [(offset, piece)].

    With ``strict=False`` unbalanced text is not an error here (the piece's own parser
    reports it, naming its entry).
    """
    pieces: list[tuple[int, str]] = []
    depth = 0
    quote: str | None = None
    begin = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"" and _opens_quote(text, i):
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                if strict:
                    raise _error("unbalanced ')'", text, start + i, source)
                depth = 0
        elif depth == 0 and text.startswith(sep, i):
            pieces.append((begin, text[begin:i]))
            i += len(sep)
            begin = i
            continue
        i += 1
    if strict and quote is not None:
        raise _error("unterminated string", text, start + n, source)
    if strict and depth > 0:
        raise _error("missing ')'", text, start + n, source)
    pieces.append((begin, text[begin:]))
    return pieces


def _split_args(arg_text: str) -> list[tuple[int, str]]:
    """Split an argument list at top-level commas (brackets and quotes respected)."""
    out: list[tuple[int, str]] = []
    depth = 0
    quote: str | None = None
    begin = 0
    i = 0
    while i < len(arg_text):
        ch = arg_text[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"" and _opens_quote(arg_text, i):
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append((begin, arg_text[begin:i]))
            begin = i + 1
        i += 1
    out.append((begin, arg_text[begin:]))
    return out


def parse_value(text: str) -> object:
    """A ``return``/``raise`` argument: a Python literal, a Go word, else the bare string."""
    stripped = text.strip()
    if stripped in _GO_WORDS:
        return _GO_WORDS[stripped]
    digits = stripped[1:] if stripped[:1] in ("+", "-") else stripped
    if digits.isascii() and digits.isdigit() and (digits == "0" or digits[0] != "0"):
        return int(stripped)  # the common case, without importing ast
    import ast

    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return stripped


def _message(text: str) -> str:
    value = parse_value(text)
    return value if isinstance(value, str) else text.strip()


def parse_duration(
    text: str, *, source: str | None = None, where: str | None = None, offset: int = 0
) -> Duration:
    """``100`` (ms), ``1.5s``, ``200us``, ``10ms..50ms`` -> :class:`Duration` (seconds).

    A quoted duration (``"1s"``, as gofail writes it) means the same as the bare one.
    """
    full = where if where is not None else text
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        text = stripped[1:-1]  # gofail spells durations as Go strings: sleep("100ms")
    parts = text.split("..")
    if len(parts) > 2:
        raise _error(f"bad duration {text.strip()!r}", full, offset, source)
    values: list[float] = []
    for part in parts:
        m = _DURATION.match(part)
        if m is None or not part.strip():
            raise _error(
                f"bad duration {text.strip()!r} (use 100, 100ms, 1.5s, 200us or 10ms..50ms)",
                full,
                offset,
                source,
            )
        values.append(float(m.group(1)) * _UNITS[m.group(2)])
    if len(values) == 2:
        if values[1] < values[0]:
            raise _error(f"duration range {text.strip()!r} runs backwards", full, offset, source)
        return Duration(values[0], values[1])
    return Duration(values[0])


def _exception_name(text: str, full: str, pos: int, source: str | None) -> str:
    name = text.strip()
    if not name or _DOTTED.match(name) is None:
        raise _error(f"bad exception name {name!r}", full, pos, source)
    if ":" not in name and "." not in name:
        obj = getattr(builtins, name, None)
        if not (isinstance(obj, type) and issubclass(obj, BaseException)):
            raise _error(
                f"unknown exception {name!r} (a builtin name or a dotted path "
                "like 'myapp.errors:Conflict')",
                full,
                pos,
                source,
            )
    return name


def _parse_args(
    action: str, arg_text: str | None, full: str, pos: int, source: str | None
) -> tuple[object, ...]:
    """Arguments of ``action``; ``pos`` is the offset of the first argument character."""
    if arg_text is None or not arg_text.strip():
        if action in _NEEDS_ARGS:
            raise _error(f"{action} needs an argument", full, pos, source)
        if action == "return":
            return (None,) if arg_text is not None else ()
        return ()
    if action in _NO_ARGS:
        raise _error(f"{action} takes no argument", full, pos, source)
    if action == "return":
        return (parse_value(arg_text),)
    if action in ("sleep", "delay"):
        return (parse_duration(arg_text, source=source, where=full, offset=pos),)
    if action in ("panic", "print"):
        return (_message(arg_text),)
    pieces = _split_args(arg_text)
    first_off, first = pieces[0]
    if action == "raise":
        name = _exception_name(first, full, pos + first_off, source)
        return (name, *(parse_value(p) for _, p in pieces[1:]))
    # call(module:function[, literal args])
    path = first.strip()
    if _DOTTED.match(path) is None or ":" not in path:
        raise _error(f"call needs 'module:function', got {path!r}", full, pos + first_off, source)
    return (path, *(parse_value(p) for _, p in pieces[1:]))


def _parse_term(piece: str, start: int, full: str, source: str | None) -> Term:
    """One term; ``start`` is the offset of ``piece`` in ``full``."""
    i = 0
    n = len(piece)
    while i < n and piece[i].isspace():
        i += 1
    end = n
    while end > i and piece[end - 1].isspace():
        end -= 1
    if i == end:
        raise _error("empty term", full, start + i, source)
    probability: float | None = None
    count: int | None = None
    while True:
        m = _NUMBER.match(piece, i, end)
        if m is None:
            break
        number = m.group(0)
        j = m.end()
        if j >= end or piece[j] not in "%*":
            raise _error(f"expected '%' or '*' after {number!r}", full, start + min(j, end), source)
        if piece[j] == "%":
            if probability is not None:
                raise _error("probability given twice", full, start + i, source)
            p = float(number)
            if not 0.0 <= p <= 100.0:
                raise _error(f"probability {number}% is not within 0-100", full, start + i, source)
            probability = p
        else:
            if count is not None:
                raise _error("count given twice", full, start + i, source)
            if not number.isdigit():
                raise _error(f"count {number!r} is not an integer", full, start + i, source)
            count = int(number)
        i = j + 1
    m = _ACTION.match(piece, i, end)
    if m is None:
        raise _error("expected an action", full, start + i, source)
    action = m.group(0)
    if action not in ACTIONS:
        raise _error(
            f"unknown action {action!r} (expected one of {', '.join(sorted(ACTIONS))})",
            full,
            start + i,
            source,
        )
    i = m.end()
    arg_text: str | None = None
    if i < end:
        if piece[i] != "(":
            raise _error(f"unexpected {piece[i]!r} after {action!r}", full, start + i, source)
        if piece[end - 1] != ")":
            raise _error("missing ')'", full, start + end, source)
        arg_text = piece[i + 1 : end - 1]
        args = _parse_args(action, arg_text, full, start + i + 1, source)
        arg_text = arg_text.strip()
    else:
        args = _parse_args(action, None, full, start + i, source)
    return Term(action=action, probability=probability, count=count, args=args, arg_text=arg_text)


def parse_terms(text: str, *, source: str | None = None) -> Terms:
    """Parse ``term('->'term)*``; raises ConfigError naming ``source`` and the position."""
    if not isinstance(text, str):
        raise ConfigError(f"failpoint terms must be a string, not {type(text).__name__}")
    if not text.strip():
        raise _error("empty terms", text, 0, source)
    pieces = _split_top(text, "->", 0, source)
    terms = tuple(_parse_term(piece, off, text, source) for off, piece in pieces)
    return Terms(terms)


def parse_entries(text: str, *, source: str | None = None) -> list[tuple[str, Terms]]:
    """Parse ``name=terms;name=terms`` (entries trimmed, empty entries skipped).

    Newlines separate entries too and ``#`` starts a comment line (for files).
    A name given twice is an error.
    """
    origin = source or "failpoint entries"
    out: list[tuple[str, Terms]] = []
    seen: set[str] = set()
    lines = text.split("\n")
    line_start = 0
    for line in lines:
        if line.lstrip().startswith("#"):
            line_start += len(line) + 1
            continue
        for off, raw in _split_top(line, ";", line_start, origin, strict=False):
            entry_start = line_start + off
            if not raw.strip():
                continue
            eq = raw.find("=")
            if eq < 0:
                raise _error(
                    f"entry {raw.strip()!r} has no '=' (expected name=terms)",
                    text,
                    entry_start,
                    origin,
                )
            name = raw[:eq].strip()
            if not name or any(c.isspace() for c in name):
                raise _error(f"bad failpoint name {name!r}", text, entry_start, origin)
            if name in seen:
                raise _error(f"failpoint {name!r} given twice", text, entry_start, origin)
            seen.add(name)
            body = raw[eq + 1 :]
            try:
                terms = parse_terms(body, source=f"entry {name!r}")
            except ConfigError as exc:
                where = entry_start + eq + 1 + (exc.position or 0)
                raise ConfigError(
                    exc.message, text=text, position=where, source=f"{origin}, entry {name!r}"
                ) from None
            out.append((name, terms))
        line_start += len(line) + 1
    return out


def format_entries(entries: list[tuple[str, Terms]] | dict[str, Terms]) -> str:
    """The inverse of :func:`parse_entries` (``;``-separated)."""
    items = entries.items() if isinstance(entries, dict) else entries
    return ";".join(f"{name}={terms}" for name, terms in items)
