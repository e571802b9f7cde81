"""Teacher heads: analytic fields the demo generator is distilled from."""

from .implicit import ImplicitHead

__all__ = ["ImplicitHead"]
