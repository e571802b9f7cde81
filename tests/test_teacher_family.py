"""The demo generator's teacher family: heads that change smoothly with their latent."""

from __future__ import annotations

import dataclasses

import numpy as np

from backend.sampling import seed_latent
from backend.teacher.family import LATENT_DIM, TeacherHead, TeacherTraits


def test_long_hair_grows_with_its_length_without_a_step():
    """The curtain of long hair grows out of the head as hair length rises to 0.05. It used
    to appear there at full size, a step in the latent a smooth generator only blurs (held-out
    seed 4, length 0.042, was rendered with half a curtain the teacher did not have)."""
    base = TeacherTraits.from_latent(seed_latent(4, LATENT_DIM).numpy()[0])
    hair = {}
    for length in (0.0, 0.02, 0.049, 0.051):
        head = TeacherHead(dataclasses.replace(base, hair_length=length), resolution=8)
        if not hair:  # the same probes for every length: a slab behind the head and neck
            rng = np.random.default_rng(0)
            low, high = head.samples.points.min(0), head.samples.points.max(0)
            probes = rng.uniform(low, high, (40_000, 3))
            probes[:, 2] = rng.uniform(low[2] - 0.05, low[2] + 0.1, len(probes))
        sdf, _ = head.field(probes)
        skin, _ = head._skin(probes)
        hair[length] = int(((sdf < 0) & (skin > 0)).sum())  # inside hair, outside the skin
    assert hair[0.0] < hair[0.02] < hair[0.049]
    assert abs(hair[0.051] - hair[0.049]) < 0.05 * hair[0.051]
