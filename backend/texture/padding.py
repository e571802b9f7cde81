"""Seam padding for texture atlases.

Colour is grown outward from the UV islands ring by ring so that texture filtering and
mip-mapping (e.g. in Blender) mix island colours with plausible neighbours instead of the
background, which would otherwise show up as seams.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

_STEPS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]


def dilate(image: np.ndarray, mask: np.ndarray, pixels: int = 16) -> np.ndarray:
    """Fill invalid texels of an [H, W, C] float image from the valid ones (``mask`` [H, W]).

    Each ring (up to ``pixels`` rings, 8-neighbour steps) gives every still-empty texel that
    touches a filled one the mean of its filled 8-neighbours. Texels still empty afterwards get
    the mean colour of the valid texels (0 if there are none). Valid texels are kept as they are;
    the content of invalid texels is ignored.
    """
    img = np.asarray(image)
    valid = np.asarray(mask, dtype=bool)
    if img.ndim != 3 or valid.shape != img.shape[:2]:
        raise ValueError(f"need image [H, W, C] and mask [H, W], got {img.shape} and {valid.shape}")
    if not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"image must be floating point, got {img.dtype}")
    if pixels < 0:
        raise ValueError(f"pixels must be >= 0, got {pixels}")
    H, W, C = img.shape
    out = img.copy()
    flat = out.reshape(-1, C)
    filled = valid.ravel().copy()
    empty = np.flatnonzero(~filled)
    # Empty texels hold 0, so ring sums can add all 8 neighbours without masking values.
    flat[empty] = 0
    # Summing over rows first keeps each float32 accumulation short (H terms), in one pass.
    valid_sum = out.sum(axis=0).sum(axis=0, dtype=np.float64)

    # First ring: empty texels with a valid 8-neighbour.
    near = np.zeros((H, W), dtype=bool)
    for dr, dc in _STEPS:
        near[max(dr, 0) : H + min(dr, 0), max(dc, 0) : W + min(dc, 0)] |= valid[
            max(-dr, 0) : H + min(-dr, 0), max(-dc, 0) : W + min(-dc, 0)
        ]
    front = np.flatnonzero(near.ravel() & ~filled)

    for ring in range(pixels):
        if front.size == 0:
            break
        total = np.zeros((front.size, C), dtype=img.dtype)
        taken = np.empty_like(total)
        count = np.zeros(front.size, dtype=np.uint8)
        # Neighbours of this ring are the next ring's candidates.
        nxt = None if ring + 1 == pixels else np.zeros_like(filled)
        # One neighbour offset at a time keeps the temporaries to a few front-sized arrays.
        for nb in _neighbours(front, H, W):
            # Indices are in range by construction; mode="clip" lets take write into `out`
            # directly instead of through a buffer.
            total += np.take(flat, nb, axis=0, out=taken, mode="clip")
            count += filled[nb]
            if nxt is not None:
                nxt[nb] = True
        flat[front] = total / count[:, None]  # count >= 1 by construction of the front
        filled[front] = True
        if nxt is not None:
            front = np.flatnonzero(nxt & ~filled)

    rest = empty[~filled[empty]]
    if rest.size:
        mean = valid_sum / max(H * W - empty.size, 1)
        flat[rest] = mean.astype(img.dtype)
    return out


def _neighbours(front: np.ndarray, H: int, W: int) -> Iterator[np.ndarray]:
    """Flat indices of each front texel's neighbours, one of the 8 offsets at a time. Off-image
    neighbours map to the texel itself, which is still empty (value 0, not filled) and so
    contributes nothing."""
    row, col = np.divmod(front, W)
    # Only texels on the image border can step off it; fix those few up after the plain offset.
    edge = np.flatnonzero((row == 0) | (row == H - 1) | (col == 0) | (col == W - 1))
    row, col, at = row[edge], col[edge], front[edge]
    for dr, dc in _STEPS:
        nb = front + (dr * W + dc)
        ok = (row + dr >= 0) & (row + dr < H) & (col + dc >= 0) & (col + dc < W)
        nb[edge] = np.where(ok, nb[edge], at)
        yield nb
