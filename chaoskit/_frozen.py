"""Immutable value objects without ``dataclasses`` (not public).

The failpoint registry, the term parser and the target resolver are imported by every
program that uses a failpoint and by every run of ``python -m chaoskit.instrument``.
``import dataclasses`` pulls in ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``),
several milliseconds of start-up, so their small value classes derive from
:class:`Frozen` instead: a subclass lists its fields in ``_fields`` (in order) and
``__slots__``, and sets them in ``__init__`` with :meth:`Frozen._set`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import NoReturn

__all__ = ["Frozen"]


def _rebuild(cls: type[Frozen], values: tuple[object, ...]) -> Frozen:
    obj = object.__new__(cls)
    for name, value in zip(cls._fields, values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


class Frozen:
    """Equality, hash, repr, pickling and immutability from the fields, as a frozen
    dataclass would have them."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def _set(self, **values: object) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self._values()))
