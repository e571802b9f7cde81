"""Loopback transfer of a generate-sized result and the Blender scene build it feeds.

    python bench/transfer.py [--vertices 100000] [--texture 2048] [--runs 5] [--no-blender]

A ROUTER thread answers each request with a result message holding a mesh of ``--vertices``
vertices (2x faces) and a ``--texture``^2 RGB texture, encoded with backend.protocol exactly as
the service does; the DEALER side receives and decodes it (zero-copy frames). Reports the median
round trip, then (unless --no-blender) the time of the add-on's decode + scene build in bpy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.common import protocol  # noqa: E402
from bench.arguments import positive_int  # noqa: E402


def payload(vertices: int, texture: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "vertices": rng.uniform(-0.4, 0.4, (vertices, 3)).astype(np.float32),
        # valid triangles (three distinct vertices), as a real mesh has
        "faces": (np.arange(2 * vertices)[:, None] // 2 + np.array([0, 1, 2])) % vertices,
        "normals": rng.normal(size=(vertices, 3)).astype(np.float32),
        "uv": rng.uniform(0, 1, (vertices, 2)).astype(np.float32),
        "texture": rng.integers(0, 255, (texture, texture, 3), dtype=np.uint8),
    }
    arrays["faces"] = arrays["faces"].astype(np.int32)
    return arrays


def serve(socket: zmq.Socket, arrays: dict[str, np.ndarray], count: int) -> None:
    for _ in range(count):
        peer, *frames = socket.recv_multipart()
        request = protocol.decode(frames)
        reply = protocol.Message("result", job=request.job, data={}, arrays=arrays)
        socket.send_multipart([peer, *protocol.encode(reply)], copy=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vertices", type=positive_int, default=100_000)
    parser.add_argument("--texture", type=positive_int, default=2048)
    parser.add_argument("--runs", type=positive_int, default=5)
    parser.add_argument("--no-blender", action="store_true")
    args = parser.parse_args()

    arrays = payload(args.vertices, args.texture)
    size = sum(a.nbytes for a in arrays.values()) / 2**20
    context = zmq.Context.instance()
    router = context.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealer = context.socket(zmq.DEALER)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    thread = threading.Thread(target=serve, args=(router, arrays, args.runs + 1), daemon=True)
    thread.start()
    times, result = [], None
    for i in range(args.runs + 1):
        start = time.perf_counter()
        dealer.send_multipart(protocol.encode(protocol.request("generate", {})))
        result = protocol.decode(dealer.recv_multipart(copy=False))
        if i:  # the first round trip sets up the connection
            times.append(time.perf_counter() - start)
    print(
        f"payload {size:.1f} MiB ({args.vertices:,} vertices, {2 * args.vertices:,} faces, "
        f"{args.texture}^2 texture): loopback round trip median "
        f"{statistics.median(times) * 1000:.0f} ms over {args.runs} runs"
    )
    if args.no_blender:
        return

    import importlib
    import tempfile

    import bpy  # imported late: the transfer above must not pay for it

    from build_addon import stage

    with tempfile.TemporaryDirectory() as tmp:
        stage(Path(tmp), wheels=[])  # the add-on's own modules, importable as `panorig`
        sys.path.insert(0, tmp)
        decode = importlib.import_module("panorig.decode")
        scene = importlib.import_module("panorig.scene")
        start = time.perf_counter()
        data = decode.mesh_from_result(result.arrays)
        decoded = time.perf_counter()
        scene.add_head(bpy.context, "bench_head", data)
        built = time.perf_counter()
    print(
        f"add-on decode {(decoded - start) * 1000:.0f} ms, "
        f"Blender scene build (mesh, UVs, image, material) {(built - decoded) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
