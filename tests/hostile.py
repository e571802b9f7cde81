"""Malformed and hostile messages for the service, by category: the fuzz test and the soak
benchmark send these."""

from __future__ import annotations

import json
import random


def header(**fields) -> bytes:
    """A request header (sleep, no arrays) with ``fields`` changed."""
    base = {"v": 1, "kind": "request", "job": "j", "op": "sleep", "params": {}, "arrays": []}
    return json.dumps({**base, **fields}).encode()


def array_spec(name="a", dtype="float32", shape=(4,), nbytes=16) -> dict:
    return {"name": name, "dtype": dtype, "shape": list(shape), "nbytes": nbytes}


def hostile_message(rng: random.Random, n: int) -> tuple[str, list[bytes]]:
    """One malformed or hostile message, of a category chosen by ``n``."""
    category = n % 12
    if category == 0:
        frames = [rng.randbytes(rng.randrange(0, 3000)) for _ in range(rng.randint(1, 3))]
        return "random bytes", frames
    if category == 1:
        return "bad JSON", [b'{"v": 1, "kind": "request", "job": ' + rng.randbytes(20)]
    if category == 2:
        return "depth bomb", [b"[" * rng.randrange(20, 40_000)]
    if category == 3:
        digits = b"9" * rng.randrange(40, 6000)
        head = b'{"v":1,"kind":"ping","job":"x","data":{"n":'
        return "number bomb", [head + digits + b'},"arrays":[]}']
    if category == 4:
        specs = [array_spec("a"), array_spec("b")]
        return "wrong frame count", [header(arrays=specs), *([b"\0" * 16] * rng.choice([0, 1, 3]))]
    if category == 5:
        spec = rng.choice(
            [
                array_spec(dtype="object"),
                array_spec(shape=(-1,)),
                array_spec(shape=([2],)),
                array_spec(nbytes=99),
                array_spec(name="é" * 100),
                "not a spec",
            ]
        )
        return "bad array spec", [header(arrays=[spec]), b"\0" * 16]
    if category == 6:
        spec = array_spec(dtype="float64", shape=(2**40, 2**40, 2**20), nbytes=0)
        return "huge declared shape", [header(arrays=[spec]), b""]
    if category == 7:
        params = rng.choice(
            [
                {"seed": "seven"},
                {"psi": float("nan")},
                {"resolution": 10**30},
                {"faces": [1, 2]},
                {"texture": {"a": 1}},
                {"unknown": 1},
                {"seed": -1, "psi": "x"},
            ]
        )
        return "bad params", [header(op="generate", job=f"bad{n}", params=params)]
    if category == 8:
        return "unknown op", [header(op=rng.choice(["format_disk", "", "x" * 64, "__init__"]))]
    if category == 9:
        kind = rng.choice(["progress", "result", "error", "accepted", "pong"])
        return "client-only kind", [header(kind=kind, fraction=0.5, stage="s", data={})]
    if category == 10:
        return "bad job id", [header(job=rng.choice(["é" * 11_000, "a" * 65, "../x", 5, None]))]
    return "bad version", [header(v=rng.choice([0, 2, "1", None, 10**20]))]
