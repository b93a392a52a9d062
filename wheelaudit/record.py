"""Plain records: what :mod:`dataclasses` gives wheelaudit, at a fraction of its start-up cost.

``wheelaudit show`` on a small wheel is start-up bound, and dataclasses was the largest part of it:
about 10 ms to import (it pulls in ``inspect``, ``ast``, ``dis`` and ``tokenize``) and about
0.35 ms per class, because it compiles six methods per class with ``exec``; the show path alone
defines over forty record classes. A :func:`record` class gets the same ``__init__`` (compiled
once per class), value equality and ``repr`` over its fields, ``hash`` when frozen, and
:func:`field`, :func:`replace` and :func:`asdict` as in the standard library. Type checkers
see it as a dataclass (PEP 681's ``dataclass_transform``). What it leaves out, because nothing
here uses it: ordering, ``slots``, keyword-only fields, ``InitVar`` and ``__post_init__``.

Records are not dataclasses at run time: ``dataclasses.replace`` and ``dataclasses.asdict`` do
not accept them; use :func:`replace` and :func:`asdict` from this module.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from operator import attrgetter

from ._typing import TYPE_CHECKING, TypeVar, overload

if TYPE_CHECKING:
    from typing import Any

    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: object) -> Callable[[object], object]:
        return lambda decorated: decorated


__all__ = ["FrozenRecordError", "asdict", "field", "fields", "record", "replace"]

T = TypeVar("T")
C = TypeVar("C", bound=type)


class FrozenRecordError(AttributeError):
    """An attribute of a frozen record was set or deleted."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


_MISSING: Any = _Missing()


class Field:
    """One field of a record: its name, default and whether it takes part in ``repr`` and ``==``."""

    __slots__ = ("compare", "default", "default_factory", "name", "repr")

    def __init__(self, default: Any, default_factory: Any, repr: bool, compare: bool) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.repr = repr
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


@overload
def field(*, default: T, repr: bool = ..., compare: bool = ...) -> T: ...
@overload
def field(*, default_factory: Callable[[], T], repr: bool = ..., compare: bool = ...) -> T: ...
@overload
def field(*, repr: bool = ..., compare: bool = ...) -> Any: ...
def field(*, default: Any = _MISSING, default_factory: Any = _MISSING, repr: bool = True, compare: bool = True) -> Any:
    """A field with a default made per instance, or left out of ``repr`` or ``==``."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("cannot give both default and default_factory")
    return Field(default, default_factory, repr, compare)


_FIELDS = "__record_fields__"


def _own_annotations(cls: type) -> dict[str, Any]:
    own = cls.__dict__.get("__annotations__")  # noqa: RUF063 - typing_extensions is no run-time dependency
    if own is None and sys.version_info >= (3, 10):
        own = cls.__annotations__  # its own only, from 3.10 on (and lazily made on 3.14)
    return dict(own or {})


def _is_class_var(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _collect(cls: type) -> dict[str, Field]:
    found: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        found.update(base.__dict__.get(_FIELDS, {}))
    for name, annotation in _own_annotations(cls).items():
        if _is_class_var(annotation):
            continue
        value = cls.__dict__.get(name, _MISSING)
        made = value if isinstance(value, Field) else Field(value, _MISSING, True, True)
        made.name = name
        found[name] = made
        if made.default is _MISSING:
            if name in cls.__dict__:
                delattr(cls, name)  # a default_factory, or a field() with no default
        else:
            setattr(cls, name, made.default)
    return found


def _check_order(cls: type, fields: list[Field]) -> None:
    seen_default = False
    for f in fields:
        if f.default is not _MISSING or f.default_factory is not _MISSING:
            seen_default = True
        elif seen_default:
            raise TypeError(f"{cls.__name__}: non-default field {f.name!r} follows a field with a default")


#: Instances a record class makes through the generic ``__init__`` before it compiles its own.
COMPILE_AFTER = 32


def _generic_init(cls: type, fields: list[Field], frozen: bool) -> Callable[..., None]:
    """An ``__init__`` that binds arguments as the compiled one does, and compiles that one when the
    class turns out to be used a lot (:data:`COMPILE_AFTER` instances) and hands over to it.

    Compiling is ~40-75 us a class (an ``exec``), and most record classes a run defines make
    a handful of instances or none: ``show`` on a small wheel defines 36 and compiled them in
    2.7 ms of its ~45. Binding here costs ~1 us more an instance than the compiled ``__init__``.
    """
    names = tuple(f.name for f in fields)
    calls = 0

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls >= COMPILE_AFTER:  # two threads may both compile: the same function, once too often
            init = _make_init(cls, fields, frozen)
            type.__setattr__(cls, "__init__", init)
            init(self, *args, **kwargs)
            return
        values = _bind(cls, fields, args, kwargs)
        if frozen:
            self.__dict__.update(zip(names, values))
        else:
            for name, value in zip(names, values):
                setattr(self, name, value)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def _bind(cls: type, fields: list[Field], args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """The field values of one call, with the TypeErrors Python gives for a compiled ``__init__``."""
    where = f"{cls.__qualname__}.__init__()"
    if len(args) > len(fields):
        raise TypeError(f"{where} takes {len(fields) + 1} positional arguments but {len(args) + 1} were given")
    values = list(args)
    for f in fields[: len(args)]:
        if f.name in kwargs:
            raise TypeError(f"{where} got multiple values for argument {f.name!r}")
    missing = []
    for f in fields[len(args) :]:
        if f.name in kwargs:
            values.append(kwargs.pop(f.name))
        elif f.default is not _MISSING:
            values.append(f.default)
        elif f.default_factory is not _MISSING:
            values.append(f.default_factory())
        else:
            missing.append(f.name)
    if missing:
        raise TypeError(f"{where} missing {len(missing)} required argument(s): {', '.join(map(repr, missing))}")
    if kwargs:  # what is left matches no field
        raise TypeError(f"{where} got an unexpected keyword argument {next(iter(kwargs))!r}")
    return values


def _make_init(cls: type, fields: list[Field], frozen: bool) -> Callable[..., None]:
    """``__init__`` compiled for this class: one ``exec``, with the speed of a hand-written one."""
    scope: dict[str, Any] = {"_MISSING": _MISSING}
    params = ["self"]
    body = ["_d = self.__dict__"] if frozen else []
    for f in fields:
        if f.default is not _MISSING:
            scope[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not _MISSING:
            scope[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            body.append(f"if {f.name} is _MISSING: {f.name} = _factory_{f.name}()")
        else:
            params.append(f.name)
        body.append(f"_d[{f.name!r}] = {f.name}" if frozen else f"self.{f.name} = {f.name}")
    source = f"def __init__({', '.join(params)}) -> None:\n    " + "\n    ".join(body or ["pass"])
    exec(source, scope)
    init: Callable[..., None] = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _key_of(names: list[str]) -> Callable[[Any], Any]:
    if not names:
        return lambda _: ()
    if len(names) == 1:
        single = attrgetter(names[0])
        return lambda obj: (single(obj),)
    return attrgetter(*names)


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")


def _process(cls: C, frozen: bool) -> C:
    found = _collect(cls)
    setattr(cls, _FIELDS, found)
    fields = list(found.values())
    key = _key_of([f.name for f in fields if f.compare])
    shown = [f.name for f in fields if f.repr]
    own = cls.__dict__

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{type(self).__qualname__}({inner})"

    def __hash__(self: Any) -> int:
        return hash(key(self))

    _check_order(cls, fields)
    methods: dict[str, Any] = {"__init__": _generic_init(cls, fields, frozen)}
    if "__repr__" not in own:
        methods["__repr__"] = __repr__
    if "__eq__" not in own:
        methods["__eq__"] = __eq__
    if "__hash__" not in own or (own["__hash__"] is None and "__eq__" in own):  # no __hash__ of its own
        methods["__hash__"] = __hash__ if frozen else None
    if frozen:
        methods["__setattr__"] = _frozen_setattr
        methods["__delattr__"] = _frozen_delattr
    methods["__match_args__"] = tuple(f.name for f in fields)
    for name, value in methods.items():
        setattr(cls, name, value)
    return cls


@overload
def record(cls: C, /) -> C: ...
@overload
def record(*, frozen: bool = False) -> Callable[[C], C]: ...
@dataclass_transform(field_specifiers=(field,))
def record(cls: C | None = None, /, *, frozen: bool = False) -> C | Callable[[C], C]:
    """Make ``cls`` a record of its annotated fields, like ``@dataclass`` (``frozen=True``: immutable)."""
    if cls is None:
        return lambda decorated: _process(decorated, frozen)
    return _process(cls, frozen)


def fields(obj: object) -> tuple[Field, ...]:
    """The fields of a record class or instance, in ``__init__`` order."""
    found: dict[str, Field] | None = getattr(obj, _FIELDS, None)
    if found is None:
        raise TypeError(f"{obj!r} is not a record")
    return tuple(found.values())


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the record ``obj`` with ``changes`` applied, made through its ``__init__``."""
    for f in fields(obj):
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    made: T = type(obj)(**changes)
    return made


def asdict(obj: object) -> Any:
    """The record ``obj`` as plain dicts, lists and values, recursively (tuples stay tuples)."""
    if hasattr(type(obj), _FIELDS):
        return {f.name: asdict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(asdict(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(asdict(v) for v in obj)
    if isinstance(obj, dict):
        return type(obj)((asdict(k), asdict(v)) for k, v in obj.items())
    return obj
