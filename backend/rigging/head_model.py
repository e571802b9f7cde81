"""One structure for every head rig model: FLAME (from the user's file) or the open template.

Frame and units (FLAME's): metres, +y up, the face looks toward +z, subject's left is +x.
Joints follow FLAME's layout: root, neck, jaw, eye_L, eye_R (parents -1, 0, 1, 1, 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FLAME_JOINTS = ("root", "neck", "jaw", "eye_L", "eye_R")
FLAME_PARENTS = (-1, 0, 1, 1, 1)


@dataclass(frozen=True)
class HeadModel:
    """A linear blend-shape head with linear blend skinning.

    ``vertices`` may include helper points that no face uses (the template's joint locators);
    ``pose_basis`` has 9 columns per non-root joint (row-major R - I, FLAME's 'lrotmin') or none.
    """

    name: str  # human-readable, e.g. "FLAME 2020" or "Open head template (MakeHuman)"
    release: str  # sequences are only valid on the release they were made for
    vertices: np.ndarray  # [V, 3] float32 rest template
    faces: np.ndarray  # [F, 3] int32
    shape_basis: np.ndarray  # [V, 3, S] float32 identity
    expr_basis: np.ndarray  # [V, 3, E] float32 expression
    pose_basis: np.ndarray  # [V, 3, P] float32 pose correctives, P = 9 * (J - 1) or 0
    joint_regressor: np.ndarray  # [J, V] float32: joints = regressor @ shaped vertices
    weights: np.ndarray  # [V, J] float32 skinning weights, rows sum to 1
    parents: tuple[int, ...] = FLAME_PARENTS
    joint_names: tuple[str, ...] = FLAME_JOINTS
    shape_names: tuple[str, ...] = ()
    expr_names: tuple[str, ...] = ()
    regions: dict[str, np.ndarray] = field(default_factory=dict)  # name -> vertex indices

    def __post_init__(self) -> None:
        v, j = len(self.vertices), len(self.joint_names)
        checks = [
            (self.vertices.shape == (v, 3), "vertices must be [V, 3]"),
            (self.faces.ndim == 2 and self.faces.shape[1] == 3, "faces must be [F, 3]"),
            (
                self.faces.size == 0 or 0 <= self.faces.min() <= self.faces.max() < v,
                "faces index missing vertices",
            ),
            (self.shape_basis.shape[:2] == (v, 3), "shape basis must be [V, 3, S]"),
            (self.expr_basis.shape[:2] == (v, 3), "expression basis must be [V, 3, E]"),
            (
                self.pose_basis.shape[:2] == (v, 3)
                and self.pose_basis.shape[2] in (0, 9 * (j - 1)),
                "pose basis must be [V, 3, 9(J-1)]",
            ),
            (self.joint_regressor.shape == (j, v), "joint regressor must be [J, V]"),
            (self.weights.shape == (v, j), "weights must be [V, J]"),
            (len(self.parents) == j and self.parents[0] == -1, "parents must match the joints"),
            (len(self.shape_names) in (0, self.shape_basis.shape[2]), "one name per shape"),
            (len(self.expr_names) in (0, self.expr_basis.shape[2]), "one name per expression"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"invalid head model {self.name!r}: {message}")

    @property
    def num_shapes(self) -> int:
        return self.shape_basis.shape[2]

    @property
    def num_expressions(self) -> int:
        return self.expr_basis.shape[2]

    def expression_names(self) -> tuple[str, ...]:
        """Names for shape keys: the model's own, or exp_000, exp_001, ... (FLAME)."""
        return self.expr_names or tuple(f"exp_{i:03d}" for i in range(self.num_expressions))
