"""CURVE keys for the service (encryption and client authentication) and bind addresses."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import zmq.auth

from ..common.errors import PanoRigError

KEY_FILES = ("server.key", "server.key_secret", "client.key", "client.key_secret")
_TCP = re.compile(r"tcp://(\*|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\*|\d{1,5})")


class KeysError(PanoRigError):
    """Keys cannot be made or used as asked."""

    code = "keys"


def make_keys(directory: str | Path, force: bool = False) -> dict[str, Path]:
    """Create a server and a client key pair in ``directory``; the client's public key is
    authorised (copied into ``authorized/``). Secrets are readable by their owner only.
    Existing keys are kept unless ``force``: replacing them locks out every client that
    holds the old ones. Returns the paths by role."""
    directory = Path(directory)
    existing = [name for name in KEY_FILES if (directory / name).exists()]
    if existing and not force:
        raise KeysError(
            f"{directory} already holds keys ({', '.join(existing)}); replacing them would lock "
            "out every client that has the old ones.",
            "Use another folder, or pass --force to replace them.",
        )
    directory.mkdir(parents=True, exist_ok=True)
    # Create the files with owner-only permissions from the start (umask), then tighten
    # explicitly: pyzmq writes them with the process's default mode.
    old_umask = os.umask(0o077)
    try:
        server_public, server_secret = zmq.auth.create_certificates(directory, "server")
        client_public, client_secret = zmq.auth.create_certificates(directory, "client")
    finally:
        os.umask(old_umask)
    for secret in (server_secret, client_secret):
        _owner_only(Path(secret))
    authorized = directory / "authorized"
    authorized.mkdir(exist_ok=True)
    shutil.copy(client_public, authorized / "client.key")
    return {
        "server_public": Path(server_public),
        "server_secret": Path(server_secret),
        "client_public": Path(client_public),
        "client_secret": Path(client_secret),
        "authorized": authorized,
    }


def _owner_only(path: Path) -> None:
    if os.name == "nt":
        # chmod cannot express an ACL: give the file to the current user alone.
        user = os.environ.get("USERNAME", "")
        subprocess.run(
            ["icacls", str(path), "/inheritance:r", "/grant:r", f"{user}:F"],
            check=True,
            capture_output=True,
        )
    else:
        path.chmod(0o600)


def load_server_keys(directory: str | Path) -> tuple[bytes, bytes, Path]:
    """(public, secret, authorised-clients folder) of a folder made by ``make_keys``."""
    directory = Path(directory)
    secret_file = directory / "server.key_secret"
    authorized = directory / "authorized"
    if not secret_file.is_file() or not authorized.is_dir():
        raise KeysError(
            f"{directory} has no server.key_secret and authorized/ folder.",
            "Create them with 'python -m backend keys DIR'.",
        )
    public, secret = zmq.auth.load_certificate(secret_file)
    return public, secret, authorized


def check_bind_address(address: str) -> str:
    """Refuse, with the reason, an address ZeroMQ would misread (e.g. a port beyond 65535,
    which it silently replaces with a random one)."""
    hint = "Use tcp://HOST:PORT with a port from 1 to 65535 (or *), or ipc://PATH."
    if address.startswith(("ipc://", "inproc://")):
        if len(address.split("://", 1)[1]) == 0:
            raise PanoRigError(f"--bind {address!r} names no path.", hint)
        return address
    match = _TCP.fullmatch(address)
    if match is None:
        raise PanoRigError(f"--bind {address!r} is not a ZeroMQ address.", hint)
    port = match.group(2)
    if port != "*" and not 1 <= int(port) <= 65535:
        raise PanoRigError(f"--bind {address!r}: port {port} does not exist.", hint)
    return address
