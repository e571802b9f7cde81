"""Fitting a head rig model to a generated head mesh.

1. Similarity (scale + offset; the frames share their axes): the model's top-of-head box is
   matched to the target's, then refined by trimmed iterative closest points.
2. Non-rigid: identity (and optionally neutral expression) coefficients by robust
   point-to-plane least squares with a ridge prior, alternating with the similarity and fresh
   correspondences. Only the model's face and scalp regions pull, so hair, ears, neck and
   shoulders of the generated head do not distort the fit.
The transform maps model metres to target units: target = scale * model + offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..progress import Progress, report
from .head_model import HeadModel
from .surface import sample_surface

FIT_REGIONS = ("face", "scalp")


@dataclass(frozen=True)
class Fit:
    scale: float
    offset: np.ndarray  # [3]
    shape: np.ndarray  # [S]
    expression: np.ndarray  # [E]
    residual: float  # mean distance of the fitted region to the target surface, target units
    head_size: float  # model crown-to-chin height in target units, for relative figures

    @property
    def relative_residual(self) -> float:
        return self.residual / self.head_size

    def to_target(self, points: np.ndarray) -> np.ndarray:
        return self.scale * points + self.offset


def fit_model(
    model: HeadModel,
    vertices: np.ndarray,
    faces: np.ndarray,
    iterations: int = 60,
    shape_prior: float = 1e-8,
    expression_prior: float | None = None,
    outlier: float = 0.02,
    progress: Progress | None = None,
) -> Fit:
    """Fit ``model`` to the target mesh (``vertices`` [N, 3] in target units, ``faces``).

    ``shape_prior`` (and ``expression_prior``; None keeps the expression neutral) weight the
    ridge penalty relative to the mean squared residual in metres. Correspondences farther than
    ``outlier`` (a fraction of the target's bounding-box diagonal) are ignored once the fit has
    come close (hair, hats and shoulders do not pull); before that, the nearer half is used.
    """
    region = _fit_region(model)
    base = model.vertices.astype(np.float64)
    skin_ids = model.regions.get("skin", np.unique(model.faces))
    target = vertices.astype(np.float64)
    scale, offset = _initial_similarity(base[skin_ids], target)
    diag = float(np.linalg.norm(target.max(0) - target.min(0)))
    samples = sample_surface(target, faces, spacing=diag / 400)
    identity = identity_basis(model)
    basis = [identity[region].astype(np.float64)]
    priors = [np.full(model.num_shapes, shape_prior)]
    if expression_prior is not None:
        basis.append(model.expr_basis[region].astype(np.float64))
        priors.append(np.full(model.num_expressions, expression_prior))
    basis = np.concatenate(basis, axis=2)  # [R, 3, K]
    prior = np.concatenate(priors)
    coeffs = np.zeros(basis.shape[2])
    for it in range(iterations):
        report(progress, it / iterations, "fitting")
        rest = base[region] + basis @ coeffs  # [R, 3] model metres
        moved = scale * rest + offset
        dist, idx = samples.tree.query(moved)
        keep = dist <= max(outlier * diag, np.median(dist))
        closest, normal = samples.points[idx[keep]], samples.normals[idx[keep]]
        if it < iterations // 3:  # the similarity alone first: shape must not absorb misalignment
            scale, offset = _scale_offset(rest[keep], closest, normal)
        else:
            scale, offset, coeffs = _solve_joint(
                base[region][keep], basis[keep], closest, normal, scale, prior, coeffs
            )
    rest = base[region] + basis @ coeffs
    dist, _ = samples.tree.query(scale * rest + offset)
    n_shape = model.num_shapes
    expression = (
        coeffs[n_shape:] if expression_prior is not None else np.zeros(model.num_expressions)
    )
    shaped = base + identity @ coeffs[:n_shape]
    height = shaped[skin_ids, 1].max() - shaped[skin_ids, 1].min()
    report(progress, 1.0, "fitting")
    return Fit(
        float(scale),
        offset.astype(np.float32),
        coeffs[:n_shape].astype(np.float32),
        expression.astype(np.float32),
        float(dist.mean()),
        float(scale * height),
    )


def identity_basis(model: HeadModel) -> np.ndarray:
    """The shape basis without its uniform-scale and translation parts [V, 3, S].

    Those parts are the similarity's job; leaving them in the shape makes size and position
    ambiguous (a 'wider head' slider also grows the head). Fitted shape coefficients refer to
    this basis; transfer and the rig use the same one.
    """
    key = id(model)
    if key not in _IDENTITY_CACHE or _IDENTITY_CACHE[key][0] is not model:
        skin = model.regions.get("skin", np.unique(model.faces))
        centred = model.vertices[skin] - model.vertices[skin].mean(0)
        basis = model.shape_basis.astype(np.float64)
        out = basis.copy()
        # per column: b ~ a * centred + t over the skin; remove that part everywhere
        a = np.einsum("vc,vck->k", centred, basis[skin]) / (centred**2).sum()
        t = basis[skin].mean(0) - 0.0  # centred has zero mean, so t is the mean displacement
        everywhere = model.vertices - model.vertices[skin].mean(0)
        out -= everywhere[:, :, None] * a[None, None, :] + t[None, :, :]
        _IDENTITY_CACHE[key] = (model, out.astype(np.float32))
    return _IDENTITY_CACHE[key][1]


_IDENTITY_CACHE: dict[int, tuple[HeadModel, np.ndarray]] = {}


def _fit_region(model: HeadModel) -> np.ndarray:
    parts = [model.regions[name] for name in FIT_REGIONS if name in model.regions]
    if parts:
        return np.unique(np.concatenate(parts))
    return np.unique(model.faces)


def _upper_box(points: np.ndarray) -> np.ndarray:
    """Bounding box of the upper half (by height): skull and face, not neck or shoulders."""
    top, height = points[:, 1].max(), np.ptp(points[:, 1])
    upper = points[points[:, 1] > top - 0.5 * height]
    return np.stack([upper.min(0), upper.max(0)])


def _initial_similarity(model: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Match the upper halves' widths, crowns and centres (hair adds little width)."""
    (m_lo, m_hi), (t_lo, t_hi) = _upper_box(model), _upper_box(target)
    scale = (t_hi[0] - t_lo[0]) / (m_hi[0] - m_lo[0])
    model_centre, target_centre = (m_lo + m_hi) / 2, (t_lo + t_hi) / 2
    offset = target_centre - scale * model_centre
    offset[1] = t_hi[1] - scale * m_hi[1]  # crown to crown
    return float(scale), offset


def _scale_offset(
    source: np.ndarray, target: np.ndarray, normal: np.ndarray
) -> tuple[float, np.ndarray]:
    """Least squares of n . (s * source + t - target) over (s, t): scale and offset only."""
    a = np.column_stack([np.einsum("rc,rc->r", normal, source), normal])
    b = np.einsum("rc,rc->r", normal, target)
    solution, *_ = np.linalg.lstsq(a, b, rcond=None)
    return float(solution[0]), solution[1:]


def _solve_joint(
    rest: np.ndarray,  # [R, 3] base positions (metres) of the kept correspondences
    basis: np.ndarray,  # [R, 3, K]
    closest: np.ndarray,  # [R, 3] target points
    normal: np.ndarray,  # [R, 3] target normals
    scale: float,
    prior: np.ndarray,
    current: np.ndarray,
) -> tuple[float, np.ndarray, np.ndarray]:
    """One Gauss-Newton step of point-to-plane least squares in (scale, offset, coefficients).

    Linearised around the current scale s0 and coefficients c0:
    s (b + B c) ~ s0 B c + s (b + B c0) - s0 B c0. Solving all together matters: shape and
    scale are coupled (an anisotropic slider looks partly like a size change).
    """
    nb = np.einsum("rc,rck->rk", normal, basis)  # [R, K]
    shaped = rest + basis @ current
    a = np.column_stack([np.einsum("rc,rc->r", normal, shaped), normal, scale * nb])
    b = np.einsum("rc,rc->r", normal, closest) + scale * (nb @ current)
    a, b = a / scale, b / scale  # residuals in metres, so the prior's meaning is scale-free
    ridge = np.concatenate([np.zeros(4), prior])
    lhs = a.T @ a / len(b) + np.diag(ridge)
    rhs = a.T @ b / len(b)
    solution = np.linalg.solve(lhs, rhs)
    return float(solution[0]), solution[1:4], solution[4:]
