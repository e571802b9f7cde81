"""FLAME-style linear blend skinning with pose correctives (numpy and torch alike).

v = sum_k w_k G'_k (T + P p),  T = template + S beta + E psi,  J = regressor T,
p = concat over non-root joints of vec(R_k - I), G'_k = rotation about the rest joint k.
"""

from __future__ import annotations

import numpy as np
import torch

from .head_model import HeadModel


def rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """[..., 3] axis-angle -> [..., 3, 3] rotation matrices."""
    angle = axis_angle.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    axis = axis_angle / angle
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(*x.shape, 3, 3)
    s, c = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + s * k + (1 - c) * (k @ k)


def shaped(model: HeadModel, shape=None, expression=None) -> torch.Tensor:
    """Rest-pose vertices [V, 3] for coefficients (missing ones are zero)."""
    v = torch.as_tensor(model.vertices)
    if shape is not None and len(shape):
        s = torch.as_tensor(shape, dtype=v.dtype)
        v = v + torch.as_tensor(model.shape_basis[:, :, : len(s)]) @ s
    if expression is not None and len(expression):
        e = torch.as_tensor(expression, dtype=v.dtype)
        v = v + torch.as_tensor(model.expr_basis[:, :, : len(e)]) @ e
    return v


def skin(
    model: HeadModel,
    shape=None,
    expression=None,
    pose=None,
    translation=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posed vertices [V, 3] and posed joints [J, 3]. ``pose`` is [J, 3] axis-angle."""
    rest = shaped(model, shape, expression)
    regressor = torch.as_tensor(model.joint_regressor, dtype=rest.dtype)
    joints = regressor @ rest
    n = len(model.joint_names)
    pose = torch.zeros(n, 3, dtype=rest.dtype) if pose is None else torch.as_tensor(pose).to(rest)
    rot = rodrigues(pose)
    if model.pose_basis.shape[2]:
        feature = (rot[1:] - torch.eye(3, dtype=rest.dtype)).reshape(-1)
        rest = rest + torch.as_tensor(model.pose_basis, dtype=rest.dtype) @ feature
    world_rot, world_pos = [], []
    for k, parent in enumerate(model.parents):
        if parent < 0:
            world_rot.append(rot[k])
            world_pos.append(joints[k])
        else:
            world_rot.append(world_rot[parent] @ rot[k])
            world_pos.append(world_pos[parent] + world_rot[parent] @ (joints[k] - joints[parent]))
    r = torch.stack(world_rot)  # [J, 3, 3]
    t = torch.stack(world_pos) - (r @ joints[:, :, None])[..., 0]  # rotate about rest joints
    w = torch.as_tensor(model.weights, dtype=rest.dtype)
    blended_r = torch.einsum("vj,jab->vab", w, r)
    blended_t = w @ t
    posed = (blended_r @ rest[:, :, None])[..., 0] + blended_t
    posed_joints = torch.stack(world_pos)
    if translation is not None:
        offset = torch.as_tensor(translation, dtype=rest.dtype)
        posed, posed_joints = posed + offset, posed_joints + offset
    return posed, posed_joints


def skin_numpy(model: HeadModel, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        v, j = skin(model, **kwargs)
    return v.numpy(), j.numpy()
