"""Distilling the teacher family into the demo tri-grid generator, on a CPU.

Data: for each training seed, the teacher head of ``seed_latent(seed, 8)``; points near its
surface (most: two thirds around the skin, one third over eyes and hair), around it (hair
zone) and across the box, with the teacher's raw density and colour (the nearest surface's,
inside too); and one small render from a random view. Loss: density (Huber, heavier near
the surface), colour in the band renders composite through (see ``colour_weight``), and a
render loss (image and mask) through PanoRig's own renderer. The generator learns z -> head,
so unseen seeds give new heads of the family.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from ..cameras import orbit_cameras
from ..models import TriGridGenerator
from ..models.presets import demo
from ..models.rays import camera_rays
from ..models.renderer import ImportanceRenderer, RenderSettings
from ..progress import Progress, report
from ..sampling import seed_latent
from .family import LATENT_DIM, teacher_head

COLOUR_INSIDE = 0.08  # generator units below the teacher's surface where colour still counts


@dataclass(frozen=True)
class DistillSettings:
    seeds: tuple[int, int] = (1000, 1288)  # training seeds [first, last)
    points: int = 24_000  # per head
    render: int = 20  # teacher render size per head
    steps: int = 2600
    batch: int = 4
    batch_points: int = 8192
    lr: float = 2e-3
    render_weight: float = 0.5
    colour_weight: float = 3.0
    torch_seed: int = 2026
    workers: int = 2


@dataclass
class HeadSamples:
    z: np.ndarray  # [8]
    points: np.ndarray  # [P, 3]
    sigma: np.ndarray  # [P]
    rgb: np.ndarray  # [P, 3] in [0, 1]
    sdf: np.ndarray  # [P]
    camera: np.ndarray  # [25]
    image: np.ndarray  # [3, R, R] in [-1, 1]
    mask: np.ndarray  # [R, R]


def teacher_samples(seed: int, points: int = 24_000, render: int = 20) -> HeadSamples:
    z = seed_latent(seed, LATENT_DIM).numpy()[0]
    head = teacher_head(z, resolution=render)
    rng = np.random.default_rng(seed)
    n_near, n_zone = int(0.45 * points), int(0.2 * points)
    parts = head.surface_points(n_near // 3, rng)  # eyes and hair
    surface = head.samples.points  # skin
    skin = surface[rng.integers(len(surface), size=n_near - len(parts))]
    near = np.concatenate([skin, parts]) + rng.normal(0, 0.006, (n_near, 3))
    zone = surface[rng.integers(len(surface), size=n_zone)] + rng.normal(0, 0.03, (n_zone, 3))
    box = rng.uniform(-0.5, 0.5, (points - n_near - n_zone, 3))
    p = np.concatenate([near, zone, box])
    sdf, rgb = head.field(p)
    camera = orbit_cameras(rng.uniform(0, 360), rng.uniform(-20, 35))
    with torch.no_grad():
        out = head.synthesis(torch.zeros(1, 1, 1), camera)
    return HeadSamples(
        z.astype(np.float32),
        p.astype(np.float32),
        head.density(sdf).astype(np.float32),
        rgb.astype(np.float32),
        sdf.astype(np.float32),
        camera[0].numpy(),
        out["image_raw"][0].numpy(),
        out["image_mask"][0, 0].numpy(),
    )


def build_dataset(settings: DistillSettings, progress: Progress | None = None) -> list[HeadSamples]:
    seeds = range(*settings.seeds)
    data = []
    # Spawned, not forked: a fork of a process whose torch has started its OpenMP threads (as
    # ``train-demo --resume`` has, loading the file first) hangs at its first parallel op.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(settings.workers, mp_context=spawn) as pool:
        jobs = pool.map(
            teacher_samples,
            seeds,
            [settings.points] * len(seeds),
            [settings.render] * len(seeds),
        )
        for i, item in enumerate(jobs):
            data.append(item)
            report(progress, (i + 1) / len(seeds), "teacher heads")
    return data


def train_demo(
    settings: DistillSettings,
    data: list[HeadSamples],
    progress: Progress | None = None,
    resume: TriGridGenerator | None = None,
) -> tuple[TriGridGenerator, dict]:
    """Train a demo generator on ``data``: a new one, or ``resume`` further (in place)."""
    torch.manual_seed(settings.torch_seed)
    G = (demo().build() if resume is None else resume.requires_grad_(True)).train()
    mapping = [p for n, p in G.named_parameters() if "mapping" in n]
    rest = [p for n, p in G.named_parameters() if "mapping" not in n]
    # The mapping layers store weights scaled by lr_multiplier 0.01 (StyleGAN's equalised lr);
    # distillation wants them to move as fast as the rest.
    opt = torch.optim.Adam(
        [{"params": rest, "lr": settings.lr}, {"params": mapping, "lr": settings.lr * 100}],
        betas=(0.9, 0.99),
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / settings.steps, 1.0)))
    )
    render = ImportanceRenderer(
        RenderSettings(depth_resolution=24, depth_resolution_importance=24, triplane_crop=0)
    )
    stacked = {
        "z": torch.from_numpy(np.stack([d.z for d in data])),
        "camera": torch.from_numpy(np.stack([d.camera for d in data])),
        "image": torch.from_numpy(np.stack([d.image for d in data])),
        "mask": torch.from_numpy(np.stack([d.mask for d in data])),
    }
    rng = np.random.default_rng(settings.torch_seed)
    history, start = [], time.perf_counter()
    c = torch.zeros(settings.batch, 25)
    for step in range(settings.steps):
        heads = rng.choice(len(data), size=settings.batch, replace=False)
        picks = [
            (data[h], rng.integers(len(data[h].points), size=settings.batch_points)) for h in heads
        ]
        pts, sigma_t, rgb_t, sdf_t = (_gather(picks, n) for n in ("points", "sigma", "rgb", "sdf"))
        ws = G.mapping(stacked["z"][heads], c)
        grids = G.synthesize_grids(ws)
        out = G.query(grids, pts)
        near = torch.exp(-sdf_t.abs() / 0.02)
        loss_sigma = (
            F.huber_loss(out["sigma"][..., 0], sigma_t, delta=5.0, reduction="none")
            * (1 + 3 * near)
        ).mean() / 10
        loss_rgb = (
            settings.colour_weight
            * ((out["rgb"][..., :3] - (rgb_t * 2 - 1)).abs().sum(-1) * colour_weight(sdf_t)).mean()
        )
        loss_render = torch.zeros(())
        if settings.render_weight > 0:
            res = data[0].mask.shape[-1]
            origins, directions = camera_rays(stacked["camera"][heads], res)
            rendered = render(partial(G.query, grids), origins, directions, True)
            image = rendered.features[..., :3].permute(0, 2, 1).reshape(-1, 3, res, res)
            mask = rendered.weight[..., 0].reshape(-1, res, res)
            loss_render = (image - stacked["image"][heads]).abs().mean() + (
                mask - stacked["mask"][heads]
            ).abs().mean()
        loss = loss_sigma + loss_rgb + settings.render_weight * loss_render
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if step % 50 == 0 or step == settings.steps - 1:
            terms = {"loss": loss, "sigma": loss_sigma, "rgb": loss_rgb, "render": loss_render}
            history.append(
                {
                    "step": step,
                    **{name: float(value.detach()) for name, value in terms.items()},
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
            done = (step + 1) / settings.steps
            report(progress, done, f"training (loss {history[-1]['loss']:.3f})")
    G.eval().requires_grad_(False)
    set_w_avg(G)
    record = {
        "settings": asdict(settings),
        "history": history,
        "train_seconds": round(time.perf_counter() - start, 1),
    }
    return G, record


def colour_weight(sdf: torch.Tensor, inside: float = COLOUR_INSIDE) -> torch.Tensor:
    """Weight of the colour loss at signed distance ``sdf``: full from ``inside`` below the
    surface to 0.02 above it, fading over 0.01 beyond.

    Renders composite colour over the depth where density rises, and a student's surface is
    softer than its teacher's: it reaches inside. With colour only near the surface the inside
    stayed unsupervised, and showed as light fringes along every hairline and blotches where
    the density was soft (a free tri-grid fitted to one head: 27.9 dB; with the inside: 30.5).
    """
    beyond = (sdf - 0.02).clamp(min=0) + (-sdf - inside).clamp(min=0)
    return torch.exp(-beyond / 0.01)


def _gather(picks: list[tuple[HeadSamples, np.ndarray]], name: str) -> torch.Tensor:
    return torch.from_numpy(np.stack([getattr(d, name)[i] for d, i in picks]))


@torch.no_grad()
def set_w_avg(G: TriGridGenerator, samples: int = 10_000, seed: int = 123) -> None:
    """The mean w over random latents, which truncation pulls toward (as StyleGAN tracks it)."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(samples, G.z_dim)).float()
    w = G.backbone.mapping(z, torch.zeros(samples, G.c_dim))[:, 0]
    G.backbone.mapping.w_avg.copy_(w.mean(0))


def record_json(record: dict) -> str:
    return json.dumps(record, sort_keys=True)
