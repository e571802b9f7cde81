"""The one error type for problems a user can fix: what is wrong, and what to do about it.

The command line prints ``error: <message> <hint>``; the service sends ``code``, ``message`` and
``hint`` in its error reply; the add-on shows them under the panel.
"""

from __future__ import annotations


class PanoRigError(ValueError):
    """A problem with the user's input: ``message`` names it, ``hint`` says how to fix it."""

    code = "failed"  # the service's machine-readable error code for this kind of problem

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message} {hint}".strip())
        self.message = message
        self.hint = hint


class CodedError(PanoRigError):
    """A ``PanoRigError`` whose code is chosen where it is raised (protocol and service
    refusals name many distinct problems)."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.code = code
