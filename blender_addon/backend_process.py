"""Starting and stopping a backend on this machine (Blender-free)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalBackend:
    process: subprocess.Popen
    address: str
    log: Path

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (a clean shutdown), then kill if it does not stop in time."""
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_backend(
    python: str,
    project: str | None,
    checkpoint: str | None,
    device: str,
    log: Path,
    port: int | None = None,
) -> LocalBackend:
    """Run ``python -m backend serve`` on a free loopback port; output goes to ``log``.

    ``project`` is the PanoRig folder holding ``backend/`` (added to PYTHONPATH) when the
    backend is not installed into that interpreter.
    """
    if not python or not Path(python).is_file():
        raise FileNotFoundError(
            f"the backend's Python interpreter {python!r} does not exist; set it in the "
            "PanoRig add-on preferences"
        )
    address = f"tcp://127.0.0.1:{port or free_port()}"
    cmd = [python, "-m", "backend", "serve", "--bind", address, "--device", device]
    if checkpoint:
        cmd += ["--checkpoint", checkpoint]
    env = dict(os.environ)
    if project:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [project, env.get("PYTHONPATH")]))
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        flags = subprocess.CREATE_NEW_PROCESS_GROUP if sys.platform == "win32" else 0
        process = subprocess.Popen(
            cmd,
            cwd=project or None,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            creationflags=flags,
        )
    return LocalBackend(process, address, log)
