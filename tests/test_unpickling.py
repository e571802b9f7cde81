"""The restricted unpickler under both readers of untrusted pickles (checkpoints, FLAME files).

Hostile pickles are spliced together by hand from opcodes: ``_ops`` writes one value with
``pickle.dumps`` and strips PROTO and STOP, so a test can put GLOBAL, NEWOBJ, REDUCE and BUILD
where no pickler would.
"""

from __future__ import annotations

import io
import pickle
import struct
from typing import Any

import numpy as np
import pytest

from backend.unpickling import (
    NUMPY_SCALAR_GLOBALS,
    Allowed,
    Inert,
    RestrictedUnpickler,
    StateStub,
    Stub,
    UnsafePickleError,
    is_plain_dtype,
    numpy_dtype,
    numpy_scalar,
)


class _RefusedError(Exception):
    """The test reader's "unsafe" error."""


def _scale(x: float, factor: float = 2) -> float:
    return x * factor


class _Record(Inert):
    """Something a reader builds for the pickle."""

    __slots__ = ()


class _Token(Stub):
    __slots__ = ()


class _Box(StateStub):
    __slots__ = ()


class _Unpickler(RestrictedUnpickler):
    allowed = {
        ("m", "scale"): Allowed(_scale),
        ("m", "record"): Allowed(_Record),
        ("m", "Token"): _Token,
        ("m", "Box"): _Box,
        **NUMPY_SCALAR_GLOBALS,
    }

    def unsafe_error(self, message: str) -> _RefusedError:
        return _RefusedError(message)


def _ops(value: Any) -> bytes:
    """``value`` as protocol-2 opcodes, without PROTO and STOP."""
    return pickle.dumps(value, protocol=2)[2:-1]


def _global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _pickle(*parts: bytes) -> bytes:
    return pickle.PROTO + b"\x02" + b"".join(parts) + pickle.STOP


def _load(data: bytes) -> Any:
    return _Unpickler(io.BytesIO(data)).load()


# A slot state (setattr for each key) and a plain state (an update of the object's __dict__).
HOSTILE_STATES = [(None, {"__defaults__": (10,)}), {"__defaults__": (10,), "marker": 1}]


# --- the allow-list -------------------------------------------------------------------------


def test_refuses_globals_outside_the_allow_list() -> None:
    with pytest.raises(_RefusedError, match=r"^refusing global 'os\.system'$"):
        _load(_pickle(_global("os", "system"), _ops(("true",)), pickle.REDUCE))
    with pytest.raises(_RefusedError) as info:
        _load(_pickle(_global("a" * 1000, "b")))
    assert len(str(info.value)) == 300  # the message stays readable


def test_refuses_persistent_references() -> None:
    with pytest.raises(_RefusedError, match="^refusing a persistent reference$"):
        _load(_pickle(_ops("storage"), pickle.BINPERSID))


def test_pickle_gets_a_wrapper_not_the_function() -> None:
    found = _load(_pickle(_global("m", "scale")))
    assert isinstance(found, Allowed) and found is not _scale
    assert _load(_pickle(_global("m", "scale"), _ops((3,)), pickle.REDUCE)) == 6


@pytest.mark.parametrize("entry", [_scale, dict], ids=["function", "class"])
def test_allow_list_takes_only_wrappers_and_stubs(entry: Any) -> None:
    with pytest.raises(TypeError, match=r"m\.f is neither Allowed nor a Stub"):
        type("Reader", (RestrictedUnpickler,), {"allowed": {("m", "f"): entry}})


# --- BUILD: only a StateStub instance takes a state ----------------------------------------------


def _victim(x: float, factor: float = 2) -> float:
    return x * factor


def test_control_build_rewrites_a_bare_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the wrapper exists: the same bytes on a bare function change it for good."""
    monkeypatch.setattr(_victim, "__defaults__", (2,))  # restored after the test

    class Bare(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            return _victim

    data = _pickle(_global("m", "scale"), _ops(HOSTILE_STATES[0]), pickle.BUILD)
    Bare(io.BytesIO(data)).load()
    assert _victim.__defaults__ == (10,) and _victim(3) == 30


@pytest.mark.parametrize("state", HOSTILE_STATES, ids=["slot state", "dict state"])
def test_build_on_an_allowed_function_is_refused(state: Any) -> None:
    data = _pickle(_global("m", "scale"), _ops(state), pickle.BUILD)
    with pytest.raises(_RefusedError, match="^unexpected attempt to modify _scale$"):
        _load(data)
    assert _scale.__defaults__ == (2,) and _scale.__dict__ == {} and _scale(3) == 6


@pytest.mark.parametrize("state", HOSTILE_STATES, ids=["slot state", "dict state"])
@pytest.mark.parametrize("stub", [_Token, _Box], ids=["Stub", "StateStub"])
def test_build_on_a_stub_class_is_refused(stub: type, state: Any) -> None:
    before = dict(vars(stub))
    data = _pickle(_global("m", stub.__name__.lstrip("_")), _ops(state), pickle.BUILD)
    with pytest.raises(_RefusedError, match=f"^unexpected attempt to modify {stub.__name__}$"):
        _load(data)
    assert dict(vars(stub)) == before


def test_build_on_other_objects_is_refused() -> None:
    token = _pickle(_global("m", "Token"), pickle.EMPTY_TUPLE, pickle.NEWOBJ)
    with pytest.raises(_RefusedError, match="^unexpected attempt to modify a _Token object$"):
        _load(token[:-1] + _ops({"x": 1}) + pickle.BUILD + pickle.STOP)
    record = _pickle(_global("m", "record"), pickle.EMPTY_TUPLE, pickle.REDUCE)
    assert type(_load(record)) is _Record
    with pytest.raises(_RefusedError, match="^unexpected attempt to modify a _Record object$"):
        _load(record[:-1] + _ops({"x": 1}) + pickle.BUILD + pickle.STOP)


def test_state_stub_takes_a_dict() -> None:
    new_box = _global("m", "Box") + _ops((1, "ignored")) + pickle.NEWOBJ
    assert _load(_pickle(new_box)).state == {}
    box = _load(_pickle(new_box, _ops({"x": [1, 2]}), pickle.BUILD))
    assert type(box) is _Box and box.state == {"x": [1, 2]}
    with pytest.raises(pickle.UnpicklingError, match="a _Box object has a state of type list"):
        _load(_pickle(new_box, _ops([1]), pickle.BUILD))


def test_named_stubs() -> None:
    first, second = _Box.named("pkg.Thing", kind="a"), _Box.named("pkg.Thing", kind="b")
    assert first is not second and first.__name__ == "pkg.Thing"
    assert issubclass(first, _Box) and (first.kind, second.kind) == ("a", "b")
    assert first().state == {}


# --- numpy dtypes and scalars ----------------------------------------------------------------


@pytest.mark.parametrize("core", ["numpy.core", "numpy._core"])
@pytest.mark.parametrize("value", [np.float64(0.25), np.float32(-1.5), np.int16(-3), np.bool_(1)])
def test_numpy_scalars_load(core: str, value: np.generic) -> None:
    data = pickle.dumps(value, protocol=3)  # GLOBAL and BINBYTES: renames keep it valid
    data = data.replace(b"numpy.core.multiarray\n", f"{core}.multiarray\n".encode())
    assert f"{core}.multiarray\nscalar".encode() in data
    loaded = _load(data)
    assert type(loaded) is type(value) and loaded == value


def test_numpy_dtype_build_leaves_the_builtin_dtypes_alone() -> None:
    # The pickle asks for numpy's shared dtype (copy=False) and BUILDs it big-endian.
    dtype = _load(
        _pickle(
            _global("numpy", "dtype"),
            _ops(("f8", False, False)),
            pickle.REDUCE,
            _ops((3, ">", None, None, None, -1, -1, 0)),
            pickle.BUILD,
        )
    )
    assert dtype.str == ">f8"
    assert np.dtype("f8").byteorder == "=" and np.dtype("f8").str == "<f8"


@pytest.mark.parametrize("spec", ["O", "V8", "f8,i4", "(2,)f8", "M8[s]"])
def test_numpy_dtype_reads_numbers_and_text_only(spec: str) -> None:
    with pytest.raises(UnsafePickleError, match="only numbers and text"):
        numpy_dtype(spec)


def test_numpy_dtype_copies() -> None:
    for spec in ("<U3", "i4", "?", "S2", ">c16"):
        dtype = numpy_dtype(spec, False, False)
        assert dtype == np.dtype(spec) and dtype is not np.dtype(spec)


def test_numpy_dtype_refusal_reaches_the_reader() -> None:
    data = _pickle(_global("numpy", "dtype"), _ops((5, False, True)), pickle.REDUCE)
    with pytest.raises(_RefusedError, match="^unexpected numpy dtype spec of type int$"):
        _load(data)


def test_numpy_scalar_checks() -> None:
    f8 = np.dtype("<f8")
    assert numpy_scalar(f8, struct.pack("<d", 0.5)) == 0.5
    # A Python 2 byte string, as an unpickler with encoding="latin1" hands it over.
    assert numpy_scalar(f8, struct.pack("<d", 0.5).decode("latin1")) == 0.5
    for dtype, data in [
        (f8, b"\0" * 7),  # wrong length
        (np.dtype("O"), b"\0" * 8),  # would read a pointer
        (np.dtype("U2"), b"\0" * 8),  # text is no scalar of these files
        (f8, 0.5),
        ("f8", b"\0" * 8),
    ]:
        with pytest.raises(UnsafePickleError, match="unexpected numpy scalar"):
            numpy_scalar(dtype, data)


def test_is_plain_dtype() -> None:
    assert is_plain_dtype(np.dtype("<f4")) and is_plain_dtype(np.dtype("S5"))
    assert is_plain_dtype(np.dtype("u1"), "iu") and not is_plain_dtype(np.dtype("f4"), "iu")
    for other in ("O", "V4", "f4,f4", "(3,)i4"):
        assert not is_plain_dtype(np.dtype(other)), other
    assert not is_plain_dtype("f4") and not is_plain_dtype(np.float32)
