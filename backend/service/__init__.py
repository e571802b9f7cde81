"""The backend service: a ZeroMQ front process (routing, job ledger) and a worker process that
owns the device and runs the operations (``jobs.py``)."""

from .security import make_keys
from .server import Service, serve

__all__ = ["Service", "make_keys", "serve"]
