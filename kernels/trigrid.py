"""Tri-grid (and tri-plane) feature sampling as one weighted embedding lookup.

The reference (``backend/models/feature_grids.py``, ``triplane.py``, ``decoder.py``) samples with
``grid_sample`` on channels-first volumes: each of a point's 8 corners reads its 32 channels
``D*H*W`` floats apart, and the three grids' samples are materialised before they are averaged.
Here the volumes are channels-last rows of 32 floats, and a point's feature is the weighted sum
of its 3 x 8 corner rows: exactly ``embedding_bag(mode="sum")`` with per-sample weights, a
vectorised kernel that reads each row once and never materialises the per-grid samples. The
corner rows and weights (``grid_sample``'s arithmetic, ``align_corners=False``, zero outside)
come from ``corners``, compiled into one loop over the points.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .compiler import compiled


def channels_last(grids: torch.Tensor, depth: int) -> torch.Tensor:
    """Backbone grids [N, P, F*D, H, W] (channel = feature*D + slice) -> [N, P, D, H, W, F]."""
    n, planes, channels, h, w = grids.shape
    return grids.reshape(n, planes, channels // depth, depth, h, w).permute(0, 1, 3, 4, 5, 2)


def _axis(coord: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``grid_sample``'s unnormalisation (align_corners=False): corner below, fraction."""
    x = ((coord + 1) * size - 1) / 2
    low = torch.floor(x)
    return low, x - low


def corners(
    points: torch.Tensor,
    inverse_axes: torch.Tensor,
    box_warp: float,
    depth: int,
    height: int,
    width: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows and weights of every point's corners: ([N*M, P*K] int64, [N*M, P*K] float), the
    weights divided by P so that their weighted sum is the mean over the planes.

    ``points`` [N, M, 3] in world units; ``inverse_axes`` [P, 3, 3] the sampler's. Row r of
    batch n, plane p is ``(n*P + p)*D*H*W + (z*H + y)*W + x`` in the channels-last table; K is 8
    (trilinear) or, for ``depth`` 1, 4 (bilinear, a tri-plane). A corner outside the volume
    weighs 0 (its row is clamped inside, so the lookup stays in bounds).
    """
    n, m, _ = points.shape
    planes = inverse_axes.shape[0]
    coords = torch.einsum("nmk,pkj->nmpj", (2.0 / box_warp) * points, inverse_axes)
    x0, fx = _axis(coords[..., 0], width)
    y0, fy = _axis(coords[..., 1], height)
    if depth == 1:  # a plane: the 2D sampling of a tri-plane, z ignored
        z_corners = ((torch.zeros_like(x0), torch.ones_like(fx)),)
    else:
        z0, fz = _axis(coords[..., 2], depth)
        z_corners = ((z0, 1 - fz), (z0 + 1, fz))
    volume = depth * height * width
    first = (torch.arange(n, device=points.device).view(n, 1, 1) * planes) * volume
    first = first + torch.arange(planes, device=points.device).view(1, 1, planes) * volume
    rows, weights = [], []
    for zi, wz in z_corners:
        for yi, wy in ((y0, 1 - fy), (y0 + 1, fy)):
            for xi, wx in ((x0, 1 - fx), (x0 + 1, fx)):
                inside = (
                    (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height) & (zi >= 0) & (zi < depth)
                )
                cell = (zi.clamp(0, depth - 1) * height + yi.clamp(0, height - 1)) * width
                rows.append(first + (cell + xi.clamp(0, width - 1)).long())
                weights.append(wx * wy * wz * inside / planes)  # the mean over the planes
    k = len(rows)
    return (
        torch.stack(rows, dim=-1).reshape(n * m, planes * k),
        torch.stack(weights, dim=-1).reshape(n * m, planes * k),
    )


_corners = compiled(corners, corners, "tri-grid corners")


def _corner_dots(table: torch.Tensor, rows: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Each corner row's dot product with its point's gradient: [R, F], [B, K], [B, F] ->
    [B, K], one gathered slot at a time."""
    return torch.stack(
        [(table.index_select(0, slot) * grad).sum(-1) for slot in rows.t().contiguous()], -1
    )


def _gathered_dots(table: torch.Tensor, rows: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``_corner_dots`` written whole; compiled, the gather, product and sum are one loop that
    never materialises the [B, K, F] rows (uncompiled it would: the slot loop is its fallback)."""
    return (table[rows] * grad[:, None, :]).sum(-1)


_fused_corner_dots = compiled(_gathered_dots, _corner_dots, "tri-grid corner dots", dynamic=True)


class _WeightedRows(torch.autograd.Function):
    """``embedding_bag(mode="sum")`` with per-sample weights, with a cheaper backward.

    PyTorch's own backward for the table sorts every corner index (4.7 M for a 64^2 render)
    to add each row's contributions in order; here one ``index_add_`` per corner slot
    accumulates them without sorting (about a third of the time on the CPU). The weights'
    gradient (the camera refinement's path to the points) is each corner row's dot product
    with the output's gradient, gathered, multiplied and summed in one compiled loop (half the
    time of a gather, a product and a sum per slot).
    """

    @staticmethod
    def forward(ctx, table: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor):
        ctx.save_for_backward(table, rows, weights)
        return F.embedding_bag(rows, table, per_sample_weights=weights, mode="sum")

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        table, rows, weights = ctx.saved_tensors
        grad = grad.contiguous()
        slots = rows.t().contiguous()  # one contiguous index column per corner slot
        grad_table = grad_weights = None
        if ctx.needs_input_grad[0]:
            grad_table = torch.zeros_like(table)
            for slot, weight in zip(slots, weights.t(), strict=True):
                grad_table.index_add_(0, slot, grad * weight[:, None])
        if ctx.needs_input_grad[2]:
            grad_weights = _fused_corner_dots(table, rows, grad)
        return grad_table, None, grad_weights


def weighted_rows(table: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Sum over each bag of ``weights`` times ``table``'s ``rows``: [B, K] rows and weights,
    [R, F] table -> [B, F]."""
    if torch.is_grad_enabled() and (table.requires_grad or weights.requires_grad):
        return _WeightedRows.apply(table, rows, weights)
    return F.embedding_bag(rows, table, per_sample_weights=weights, mode="sum")


def sample(
    volumes: torch.Tensor, inverse_axes: torch.Tensor, points: torch.Tensor, box_warp: float
) -> torch.Tensor:
    """Mean over the planes of the samples at world ``points`` [N, M, 3] -> [N, M, F].

    ``volumes`` [N, P, D, H, W, F] channels-last (``channels_last``), contiguous.
    """
    n, planes, depth, height, width, features = volumes.shape
    rows, weights = _corners(points, inverse_axes.to(points.dtype), box_warp, depth, height, width)
    table = volumes.reshape(-1, features)
    mean = weighted_rows(table, rows, weights)
    return mean.reshape(n, points.shape[1], features)
