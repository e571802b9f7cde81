"""The restricted unpickler under PanoRig's readers of untrusted pickles (checkpoints, FLAME files).

A reader subclasses ``RestrictedUnpickler`` with the globals its format names (``allowed``) and
its own "unsafe" error (``unsafe_error``). Nothing a file names is imported: each allowed global
is either

* ``Allowed(function)``: a small argument-checking function of the reader, wrapped so that the
  pickle never holds the function object itself, or
* a ``Stub`` class: an inert stand-in for a class of the format.

A pickle can BUILD (set attributes or state on) any object it holds. On a bare function or a
class that would change it for every later load (``__defaults__``, class attributes), so BUILD is
refused on ``Allowed`` wrappers, on ``Stub`` classes, and on every ``Inert`` object the readers
build; only ``StateStub`` instances take a state, and only a dict.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NoReturn

import numpy as np

# Everything the C unpickler (or allow-listed callbacks fed with bad arguments) raises on a
# broken file: each reader turns these into its own "truncated or damaged" error.
DECODE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    struct.error,
    OverflowError,
    RecursionError,
    MemoryError,
)

NUMPY_CORES = ("numpy.core", "numpy._core")  # NumPy 1 and NumPy 2 spellings of the same modules


class UnsafePickleError(Exception):
    """Raised inside a restricted load for anything refused; ``load`` raises the reader's error."""


class Inert:
    """An object the readers build from a pickle: BUILD on it is refused.

    (A dataclass with ``slots=True, frozen=True`` adds its own ``__setstate__``: don't use both.)
    """

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError(f"unexpected attempt to modify a {type(self).__name__} object")


class StubType(type):
    """Metaclass of the stubs: BUILD on a stub class itself is refused.

    BUILD looks ``__setstate__`` up on the object it modifies; for a class, this data descriptor
    of the metaclass wins over the class's own ``__setstate__`` (which is for its instances).
    """

    @property
    def __setstate__(cls) -> Callable[[Any], NoReturn]:
        def refuse(state: Any) -> NoReturn:
            raise UnsafePickleError(f"unexpected attempt to modify {cls.__name__}")

        return refuse


class Stub(Inert, metaclass=StubType):
    """An inert stand-in for a class a format names; its instances take no state."""

    __slots__ = ()

    @classmethod
    def named(cls, name: str, **attributes: Any) -> type:
        """A subclass called ``name`` (one per stood-in class, so errors can name it)."""
        return type(name, (cls,), {"__slots__": (), **attributes})


class StateStub(Stub):
    """A stub whose instances keep the dict BUILD gives them (``state``), nothing else."""

    __slots__ = ("state",)
    state: dict

    def __new__(cls, *args: Any, **kwargs: Any) -> StateStub:
        # NEWOBJ passes the pickled constructor arguments: a stand-in has no use for them.
        self = super().__new__(cls)
        self.state = {}
        return self

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f"a {type(self).__name__} object has a state of type {type(state).__name__}, "
                "expected a dict"
            )
        self.state = state


class Allowed:
    """An allow-listed function as the unpickler hands it to the pickle.

    On the bare function BUILD would set attributes (``__defaults__``, ...) of the reader's own
    function, for every later load; this wrapper has nothing to set and refuses BUILD.
    """

    __slots__ = ("function",)

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError(f"unexpected attempt to modify {self.function.__name__}")


class RestrictedUnpickler(pickle.Unpickler):
    """Imports nothing: ``find_class`` answers from ``allowed`` and refuses every other global.

    ``load`` raises the subclass's ``unsafe_error`` for each refusal: a global outside the
    allow-list, a persistent reference, BUILD on what takes no state.
    """

    allowed: ClassVar[Mapping[tuple[str, str], Allowed | StubType]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Anything else (a bare function, a real class) would be open to BUILD from the pickle.
        for (module, name), found in cls.allowed.items():
            if not isinstance(found, (Allowed, StubType)):
                raise TypeError(f"allow-list entry {module}.{name} is neither Allowed nor a Stub")

    def unsafe_error(self, message: str) -> Exception:
        """The reader's error for a refusal (``message`` has no final full stop)."""
        raise NotImplementedError

    def load(self) -> Any:
        try:
            return super().load()
        except UnsafePickleError as exc:
            raise self.unsafe_error(str(exc)[:300]) from None

    def find_class(self, module: str, name: str) -> Any:
        found = self.allowed.get((module, name))
        if found is None:
            raise UnsafePickleError(f"refusing global '{module}.{name}'")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refusing a persistent reference")


# --- numpy values: dtypes and scalars, as numpy pickles them ---------------------------------


def is_plain_dtype(dtype: Any, kinds: str = "biufcSU") -> bool:
    """Is ``dtype`` a numpy dtype of one of ``kinds``, without objects, fields or sub-arrays?"""
    return (
        isinstance(dtype, np.dtype)
        and dtype.kind in kinds
        and not dtype.hasobject
        and dtype.fields is None
        and dtype.subdtype is None
    )


def numpy_dtype(spec: Any, align: Any = False, copy: Any = True) -> np.dtype:
    """``numpy.dtype(spec, align, copy)`` for numbers and text only."""
    if not isinstance(spec, str):
        raise UnsafePickleError(f"unexpected numpy dtype spec of type {type(spec).__name__}")
    # Always a copy: the BUILD that follows must never modify numpy's shared builtin dtypes.
    dtype = np.dtype(spec, bool(align), True)
    if not is_plain_dtype(dtype):
        raise UnsafePickleError(f"unexpected numpy dtype {spec!r} (only numbers and text are read)")
    return dtype


def numpy_scalar(dtype: Any, data: Any) -> np.generic:
    """``numpy.core.multiarray.scalar(dtype, data)`` for numbers only."""
    if isinstance(data, str):  # a Python 2 byte string, decoded as latin-1 by the unpickler
        data = data.encode("latin1")
    if (
        not is_plain_dtype(dtype, "biufc")
        or not isinstance(data, bytes)
        or len(data) != dtype.itemsize
    ):
        raise UnsafePickleError(f"unexpected numpy scalar ({dtype!r}, {type(data).__name__})")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


# The globals numpy's scalars are pickled with, for the readers' allow-lists.
NUMPY_SCALAR_GLOBALS: dict[tuple[str, str], Allowed] = {
    ("numpy", "dtype"): Allowed(numpy_dtype),
    **{(f"{core}.multiarray", "scalar"): Allowed(numpy_scalar) for core in NUMPY_CORES},
}
