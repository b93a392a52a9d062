"""The few names wheelaudit takes from :mod:`typing` at run time, without importing typing.

``wheelaudit show`` on a small wheel is start-up bound, and importing typing is ~2.5 ms of
its ~45 ms. Everything else typing offers is only read by type checkers, so modules import
it under ``if TYPE_CHECKING:``; this module gives the names that are also evaluated at run
time. Type checkers see typing's own (the ``TYPE_CHECKING`` branch); at run time:

* ``NamedTuple`` builds the class with :func:`collections.namedtuple`, as typing's does:
  fields in annotation order, trailing defaults, methods, properties and the docstring kept.
* ``Protocol`` is a plain base class: nothing here checks a protocol at run time.
* ``Generic[T]`` is a plain base class too: subscripting it gives it back.
* ``cast``, ``overload`` and ``TypeVar`` do what typing's do at run time: nothing of use.

``tests/test_startup.py`` checks that ``show`` and ``repair`` never import typing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Generic as Generic
    from typing import NamedTuple as NamedTuple
    from typing import Protocol as Protocol
    from typing import TypeVar as TypeVar
    from typing import cast as cast
    from typing import overload as overload
else:
    from collections import namedtuple

    _NOT_COPIED = frozenset(("__module__", "__qualname__", "__annotations__", "__orig_bases__", "__dict__"))

    class _NamedTupleMeta(type):
        def __new__(mcls, name, bases, namespace):
            if not bases:  # NamedTuple itself
                return super().__new__(mcls, name, bases, namespace)
            if "__classcell__" in namespace:
                raise TypeError(f"{name}: a named tuple's methods cannot use super() or __class__")
            fields = tuple(namespace.get("__annotations__", ()))
            defaults = [namespace[field] for field in fields if field in namespace]
            cls = namedtuple(name, fields, defaults=defaults, module=namespace.get("__module__"))
            cls.__qualname__ = namespace.get("__qualname__", name)
            for key, value in namespace.items():
                if key not in fields and key not in _NOT_COPIED:
                    setattr(cls, key, value)
            return cls

    class NamedTuple(metaclass=_NamedTupleMeta):
        """Base of a named tuple class, as ``typing.NamedTuple``."""

    class Protocol:
        """Base of a structural type; only type checkers read it."""

        __slots__ = ()

    class Generic:
        """Base of a generic class; only type checkers read its parameters."""

        __slots__ = ()

        def __class_getitem__(cls, _parameters):
            return cls

    def cast(_type, value):
        return value

    def overload(function):
        return function

    def TypeVar(name, *_constraints, **_options):
        return name
