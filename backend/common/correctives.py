"""FLAME's pose correctives: their names and the formulas that drive them.

A corrective is one entry (row, col) of R - I, R the local rotation of a non-root joint. FLAME
orders them joint by joint (skipping the root), 9 row-major entries each; the add-on names the
shape keys ``pose_<joint>_<row><col>``.

The entries are written once, in ``R_MINUS_I``, as polynomials in the unit quaternion
(w, x, y, z). Blender's driver expressions and the numpy evaluation (for baking keys) are both
generated from that table, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ENTRIES_PER_JOINT = 9
PREFIX = "pose_"

# (R - I)[row][col] = factor * sum(sign * u * v), u and v named components of (w, x, y, z).
Polynomial = tuple[int, tuple[tuple[int, str], ...]]  # (factor, ((sign, "uv"), ...))
R_MINUS_I: tuple[tuple[Polynomial, Polynomial, Polynomial], ...] = (
    ((-2, ((1, "yy"), (1, "zz"))), (2, ((1, "xy"), (-1, "wz"))), (2, ((1, "xz"), (1, "wy")))),
    ((2, ((1, "xy"), (1, "wz"))), (-2, ((1, "xx"), (1, "zz"))), (2, ((1, "yz"), (-1, "wx")))),
    ((2, ((1, "xz"), (-1, "wy"))), (2, ((1, "yz"), (1, "wx"))), (-2, ((1, "xx"), (1, "yy")))),
)


def driver_expression(polynomial: Polynomial) -> str:
    """The polynomial as a Blender driver expression in the variables w, x, y, z.

    Only products, sums and constants: Blender runs these as "simple expressions", without
    Python, so the drivers work with Auto Run off.
    """
    factor, terms = polynomial
    body = "".join(f"{'+' if sign > 0 else '-'}{u}*{v}" for sign, (u, v) in terms)
    return f"{factor}*({body.removeprefix('+')})"


def evaluate(polynomial: Polynomial, quaternions: np.ndarray) -> np.ndarray:
    """The polynomial on [..., 4] unit quaternions (w, x, y, z) -> [...] float64."""
    components = dict(
        zip("wxyz", np.moveaxis(np.asarray(quaternions, np.float64), -1, 0), strict=True)
    )
    factor, terms = polynomial
    return factor * sum(sign * components[u] * components[v] for sign, (u, v) in terms)


@dataclass(frozen=True)
class Corrective:
    """One pose corrective: entry (row, col) of R - I of ``joint``'s local rotation."""

    joint: str
    row: int
    col: int

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.joint}_{self.row}{self.col}"

    @property
    def polynomial(self) -> Polynomial:
        return R_MINUS_I[self.row][self.col]


def for_joints(joint_names: tuple[str, ...]) -> tuple[Corrective, ...]:
    """The 9 (J - 1) correctives of a rig with these joints (the first is the root), in FLAME's
    order: the k-th drives the k-th pose-corrective displacement."""
    return tuple(
        Corrective(joint, *divmod(k, 3))
        for joint in joint_names[1:]
        for k in range(ENTRIES_PER_JOINT)
    )


def parse(name: str) -> Corrective | None:
    """The corrective a shape key named ``pose_<joint>_<row><col>`` drives; None for others."""
    head, _, entry = name.rpartition("_")
    joint = head.removeprefix(PREFIX)
    if not (head.startswith(PREFIX) and joint and len(entry) == 2 and set(entry) <= set("012")):
        return None
    return Corrective(joint, int(entry[0]), int(entry[1]))
