"""Soak the backend service: mixed traffic from many clients, memory and ping latency over time.

    python bench/service_soak.py [--minutes 10] [--clients 8] [--checkpoint PATH]

Starts ``python -m backend serve`` (the tiny conformance generator by default) and runs
``--clients`` threads, each with its own socket, sending a mix of pings (timed), short jobs,
small heads, cancels of their own jobs and malformed or hostile messages (``tests/hostile.py``),
reading replies as they come. Every minute it records the messages sent so far and the resident
memory of the service's front and worker processes; at the end it reports the memory growth per
10,000 messages after the first minute (the warm-up: models load, caches fill) and the ping
latency percentiles.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.common import protocol  # noqa: E402
from bench.arguments import positive_int  # noqa: E402
from tests.hostile import hostile_message  # noqa: E402

HEAD = {"seed": 1, "resolution": 48, "faces": 1500, "level": 0.0, "texture": 0, "preview": False}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Traffic(threading.Thread):
    def __init__(self, address: str, seed: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.address, self.rng, self.stop = address, random.Random(seed), stop
        self.sent = 0
        self.latencies: list[float] = []
        self.replies: dict[str, int] = {}

    def run(self) -> None:
        socket = zmq.Context.instance().socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(self.address)
        pings: dict[str, float] = {}
        jobs: list[str] = []
        n = 0
        while not self.stop.is_set():
            n += 1
            roll = self.rng.random()
            if roll < 0.5:
                job = f"ping{n}"
                pings[job] = time.monotonic()
                socket.send_multipart(protocol.encode(protocol.Message("ping", job=job)))
            elif roll < 0.65:
                msg = protocol.request("sleep", {"steps": 3, "step": 0.01})
                jobs.append(msg.job)
                socket.send_multipart(protocol.encode(msg))
            elif roll < 0.67:
                msg = protocol.request("generate", HEAD)
                jobs.append(msg.job)
                socket.send_multipart(protocol.encode(msg))
            elif roll < 0.72 and jobs:
                job = jobs.pop(self.rng.randrange(len(jobs)))
                socket.send_multipart(protocol.encode(protocol.Message("cancel", job=job)))
            else:
                socket.send_multipart(hostile_message(self.rng, n)[1])
            self.sent += 1
            while socket.poll(0):
                msg = protocol.decode(socket.recv_multipart())
                self.replies[msg.kind] = self.replies.get(msg.kind, 0) + 1
                if msg.kind == "pong" and msg.job in pings:
                    self.latencies.append(time.monotonic() - pings.pop(msg.job))
            time.sleep(self.rng.uniform(0.0, 0.01))
        socket.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=positive_int, default=8)
    parser.add_argument(
        "--checkpoint", default=str(ROOT.parent / "shared/fixtures/panohead_tiny/G_tiny.pkl")
    )
    args = parser.parse_args()

    import socket as sockets

    with sockets.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    service = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve", "--bind", address,
         "--checkpoint", args.checkpoint, "--device", "cpu"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    while "listening" not in (line := service.stdout.readline()):
        if not line:
            raise SystemExit("the service did not start")
    probe = zmq.Context.instance().socket(zmq.DEALER)
    probe.connect(address)
    probe.send_multipart(protocol.encode(protocol.Message("ping", job="probe")))
    worker = protocol.decode(probe.recv_multipart()).data["worker_pid"]

    stop = threading.Event()
    clients = [Traffic(address, seed, stop) for seed in range(args.clients)]
    for client in clients:
        client.start()
    samples = []
    start = time.monotonic()
    print(f"{'minute':>6} {'messages':>9} {'front MiB':>10} {'worker MiB':>11}")
    for minute in range(int(args.minutes) + 1):
        while time.monotonic() - start < 60 * minute:
            time.sleep(0.5)
        sent = sum(c.sent for c in clients)
        sample = (minute, sent, rss_mib(service.pid), rss_mib(worker))
        samples.append(sample)
        print(f"{sample[0]:>6} {sample[1]:>9,} {sample[2]:>10.1f} {sample[3]:>11.1f}", flush=True)
    stop.set()
    for client in clients:
        client.join(5)
    probe.send_multipart(protocol.encode(protocol.Message("ping", job="probe")))
    worker_after = protocol.decode(probe.recv_multipart()).data["worker_pid"]
    service.terminate()
    service.wait(10)

    (_, sent0, front0, worker0), (_, sent1, front1, worker1) = samples[1], samples[-1]
    per = 10_000 / max(sent1 - sent0, 1)
    print(
        f"after warm-up (minute 1 to {samples[-1][0]}): front {(front1 - front0) * per:+.2f} MiB, "
        f"worker {(worker1 - worker0) * per:+.2f} MiB per 10,000 messages"
    )
    latencies = sorted(t for c in clients for t in c.latencies)
    q = statistics.quantiles(latencies, n=100)
    print(
        f"ping latency over {len(latencies):,} pings: p50 {q[49] * 1000:.1f} ms, "
        f"p90 {q[89] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    replies: dict[str, int] = {}
    for client in clients:
        for kind, count in client.replies.items():
            replies[kind] = replies.get(kind, 0) + count
    print("replies: " + ", ".join(f"{k} {v:,}" for k, v in sorted(replies.items())))
    same = "the same worker throughout" if worker_after == worker else "the worker was restarted"
    print(f"worker pid {worker} -> {worker_after}: {same}")


if __name__ == "__main__":
    main()
