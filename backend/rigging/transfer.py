"""Transferring a fitted rig model onto the generated head (any topology, with hair).

Each head vertex takes the closest point of the fitted model surface; a match is accepted when
it is near (distance <= 5% of the head's bounding-box diagonal) and faces the same way (normals
within 30 degrees), as in robust skin-weight transfer. Accepted vertices interpolate the model's
skinning weights, expression displacements and pose correctives; the others get weights by
harmonic inpainting over the mesh, so nothing is left unweighted. Displacements fade to zero
with the distance to the matched face surface and are zero where nothing matched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from ..progress import Progress, report
from .fit import Fit, identity_basis
from .head_model import HeadModel
from .surface import closest_points, interpolate, sample_surface


@dataclass(frozen=True)
class Rig:
    """Everything the add-on turns into Blender data, in the head's own (generator) frame."""

    vertices: np.ndarray  # [V, 3]
    faces: np.ndarray  # [F, 3]
    weights: np.ndarray  # [V, J] rows sum to 1
    joints: np.ndarray  # [J, 3] rest joint positions
    parents: tuple[int, ...]
    joint_names: tuple[str, ...]
    expressions: np.ndarray  # [E, V, 3] displacement per unit coefficient
    expression_names: tuple[str, ...]
    pose_correctives: np.ndarray  # [P, V, 3] displacement per unit of vec(R - I), P = 9(J-1) or 0
    model_name: str
    release: str
    fit: Fit
    matched: np.ndarray  # [V] bool: vertices that found the model surface


def transfer(
    model: HeadModel,
    fit: Fit,
    vertices: np.ndarray,
    faces: np.ndarray,
    normals: np.ndarray,
    max_distance: float = 0.05,
    max_angle: float = 30.0,
    fade: tuple[float, float] = (0.01, 0.03),
    smooth_weights: int = 3,
    progress: Progress | None = None,
) -> Rig:
    """Bind the head mesh to ``model`` as fitted by ``fit``.

    ``max_distance`` and ``fade`` are fractions of the head's bounding-box diagonal:
    displacements apply fully up to ``fade[0]`` from the model surface and fade out (smoothstep)
    to zero at ``fade[1]``. ``smooth_weights`` rounds of neighbour averaging soften the seams
    where the model's weights change abruptly (a jaw line that would crease when posed).
    """
    report(progress, 0.0, "transfer")
    diag = float(np.linalg.norm(vertices.max(0) - vertices.min(0)))
    rest = model.vertices + identity_basis(model) @ fit.shape + model.expr_basis @ fit.expression
    fitted = fit.to_target(rest)
    surface = sample_surface(fitted, model.faces, spacing=diag / 300)
    graph = _adjacency(len(vertices), faces)
    unit = _smooth_normals(normals, graph)  # marching-cubes normals are noisy at fine features
    min_cos = float(np.cos(np.radians(max_angle)))
    dist, face, bary, cos = closest_points(surface, fitted, model.faces, vertices, unit, min_cos)
    matched = (dist <= max_distance * diag) & (cos >= min_cos)
    extend = _HarmonicExtension(graph, matched)

    report(progress, 0.3, "transfer: weights")
    weights = np.zeros((len(vertices), len(model.joint_names)), np.float64)
    weights[matched] = interpolate(model.weights, model.faces, face[matched], bary[matched])
    weights = extend(weights, fallback=interpolate(model.weights, model.faces, face, bary))
    weights = _smooth(np.clip(weights, 0, None), graph, rounds=smooth_weights)
    weights /= weights.sum(1, keepdims=True).clip(1e-12)

    report(progress, 0.6, "transfer: shapes")
    # Displacements: interpolated where matched, inpainted across small unmatched patches
    # (a crease whose normal disagreed), then faded out with the distance to the model surface.
    ramp = np.clip((fade[1] * diag - dist) / ((fade[1] - fade[0]) * diag), 0, 1)
    falloff = (ramp * ramp * (3 - 2 * ramp))[:, None, None]
    fm, bm = face[matched], bary[matched]

    def displacements(basis: np.ndarray) -> np.ndarray:
        if basis.shape[2] == 0:
            return np.zeros((0, len(vertices), 3), np.float32)
        values = np.zeros((len(vertices), 3, basis.shape[2]), np.float64)
        values[matched] = interpolate(basis, model.faces, fm, bm)
        values = extend(values.reshape(len(vertices), -1), fallback=None).reshape(values.shape)
        return np.ascontiguousarray(
            (values * falloff * fit.scale).transpose(2, 0, 1), dtype=np.float32
        )

    joints = fit.to_target(model.joint_regressor @ rest)
    report(progress, 1.0, "transfer")
    return Rig(
        vertices=vertices.astype(np.float32),
        faces=faces.astype(np.int32),
        weights=weights.astype(np.float32),
        joints=joints.astype(np.float32),
        parents=model.parents,
        joint_names=model.joint_names,
        expressions=displacements(model.expr_basis),
        expression_names=model.expression_names(),
        pose_correctives=displacements(model.pose_basis),
        model_name=model.name,
        release=model.release,
        fit=fit,
        matched=matched,
    )


def _adjacency(n: int, faces: np.ndarray) -> sp.csr_matrix:
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adj = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return ((adj + adj.T) > 0).astype(np.float64).tocsr()


def _smooth_normals(normals: np.ndarray, graph: sp.csr_matrix, rounds: int = 2) -> np.ndarray:
    smooth = normals.astype(np.float64)
    for _ in range(rounds):
        smooth = smooth + graph @ smooth
        smooth /= np.linalg.norm(smooth, axis=1, keepdims=True).clip(1e-12)
    return smooth


def _smooth(values: np.ndarray, graph: sp.csr_matrix, rounds: int) -> np.ndarray:
    degree = np.asarray(graph.sum(1)).ravel()[:, None].clip(1)
    for _ in range(rounds):
        values = 0.5 * values + 0.5 * (graph @ values) / degree
    return values


class _HarmonicExtension:
    """Harmonic extension from the known vertices over the mesh graph (one factorisation,
    any number of value columns). Components without a known vertex take ``fallback``."""

    def __init__(self, graph: sp.csr_matrix, known: np.ndarray) -> None:
        laplacian = (sp.diags(np.asarray(graph.sum(1)).ravel()) - graph).tocsr()
        n_comp, label = connected_components(graph, directed=False)
        has_known = np.zeros(n_comp, bool)
        has_known[label[known]] = True
        self.known = known
        self.solvable = ~known & has_known[label]
        self.orphan = ~known & ~has_known[label]
        u, k = np.nonzero(self.solvable)[0], np.nonzero(~self.solvable)[0]
        self.u, self.k = u, k
        self.coupling = laplacian[u][:, k]
        self.lu = splu(laplacian[u][:, u].tocsc()) if len(u) else None

    def __call__(self, values: np.ndarray, fallback: np.ndarray | None) -> np.ndarray:
        out = values.copy()
        out[self.orphan] = 0.0 if fallback is None else fallback[self.orphan]
        if self.lu is not None:
            rhs = -(self.coupling @ out[self.k])
            out[self.u] = self.lu.solve(np.asarray(rhs, np.float64).reshape(len(self.u), -1))
        return out
