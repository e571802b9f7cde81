"""``rig.npz``: a bound rig as plain arrays (no pickle), for inspection and for the add-on."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .fit import Fit
from .transfer import Rig


def save_rig(rig: Rig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        vertices=rig.vertices,
        faces=rig.faces,
        weights=rig.weights,
        joints=rig.joints,
        parents=np.asarray(rig.parents, np.int32),
        joint_names=np.asarray(rig.joint_names),
        expressions=rig.expressions,
        expression_names=np.asarray(rig.expression_names),
        pose_correctives=rig.pose_correctives,
        model_name=np.asarray(rig.model_name),
        release=np.asarray(rig.release),
        matched=rig.matched,
        fit_scale=np.float32(rig.fit.scale),
        fit_offset=rig.fit.offset,
        fit_shape=rig.fit.shape,
        fit_expression=rig.fit.expression,
        fit_residual=np.float32(rig.fit.residual),
        fit_head_size=np.float32(rig.fit.head_size),
    )
    return path


def load_rig(path: str | os.PathLike) -> Rig:
    with np.load(path, allow_pickle=False) as z:
        fit = Fit(
            float(z["fit_scale"]),
            z["fit_offset"],
            z["fit_shape"],
            z["fit_expression"],
            float(z["fit_residual"]),
            float(z["fit_head_size"]),
        )
        return Rig(
            vertices=z["vertices"],
            faces=z["faces"],
            weights=z["weights"],
            joints=z["joints"],
            parents=tuple(int(p) for p in z["parents"]),
            joint_names=tuple(str(n) for n in z["joint_names"]),
            expressions=z["expressions"],
            expression_names=tuple(str(n) for n in z["expression_names"]),
            pose_correctives=z["pose_correctives"],
            model_name=str(z["model_name"]),
            release=str(z["release"]),
            fit=fit,
            matched=z["matched"],
        )
