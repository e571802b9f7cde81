"""CURVE keys for the service: encryption and client authentication."""

from __future__ import annotations

import shutil
from pathlib import Path

import zmq.auth


def make_keys(directory: str | Path) -> dict[str, Path]:
    """Create a server and a client key pair in ``directory``; the client's public key is
    authorised (copied into ``authorized/``). Returns the paths by role."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    server_public, server_secret = zmq.auth.create_certificates(directory, "server")
    client_public, client_secret = zmq.auth.create_certificates(directory, "client")
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


def load_server_keys(directory: str | Path) -> tuple[bytes, bytes, Path]:
    """(public, secret, authorised-clients folder) of a folder made by ``make_keys``."""
    directory = Path(directory)
    secret_file = directory / "server.key_secret"
    authorized = directory / "authorized"
    if not secret_file.is_file() or not authorized.is_dir():
        raise ValueError(
            f"{directory} has no server.key_secret and authorized/ folder; "
            "create them with 'python -m backend keys DIR'"
        )
    public, secret = zmq.auth.load_certificate(secret_file)
    return public, secret, authorized
