"""The backend service: ZeroMQ ROUTER front, one worker thread, operations as functions."""

from .jobs import OPERATIONS
from .security import make_keys
from .server import Service, serve

__all__ = ["OPERATIONS", "Service", "make_keys", "serve"]
