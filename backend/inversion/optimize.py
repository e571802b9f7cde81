"""Fitting the generator to aligned photos of one person: a shared W+ latent with per-photo
camera refinement, then pivotal tuning (PTI) of a copy of the generator's weights.

Stage 1 follows PanoHead's projector (research note panohead.md §d): W+ starts at w_avg (10,000
mapped z from RandomState 123, frontal conditioning camera), Adam with a linear lr ramp-up and a
cosine ramp-down, Gaussian w-noise that fades out. PanoRig adds one camera per photo, refined
jointly around its landmark estimate, and renders coarse-to-fine: half size and a third of the
samples per ray first, full size and all samples for the last steps. Stage 2 tunes every weight of
a deep copy around the pivot, all photos in the loss, with PTI's locality term keeping other
heads as they were.
"""

from __future__ import annotations

import copy
import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from ..cameras import conditioning_camera, orbit_cameras
from ..common.errors import PanoRigError
from ..imaging import image_to_uint8
from ..progress import Progress, report, scaled
from .aligned import AlignedPhoto
from .head_file import Head
from .losses import (
    DEFAULT_WEIGHTS,
    LossWeights,
    latent_regulariser,
    locality_loss,
    photo_losses,
    weighted_sum,
)

Preview = Callable[[np.ndarray], None]
StepHook = Callable[[int, torch.Tensor, torch.Tensor], None]

# Bounds of the camera refinement around the landmark estimate.
MAX_TURN = math.radians(30.0)  # orbit about the head, per axis
MAX_SHIFT = 0.15  # sideways camera shift, in normalised image units
MAX_ZOOM = 0.2  # log of the focal length's scale


class InversionError(PanoRigError):
    code = "inversion"


@dataclass(frozen=True)
class Schedule:
    """How long and how fast each stage runs.

    W+ stage: ``steps`` Adam steps at peak ``lr``, ramped up linearly over the first ``warmup``
    and down (cosine) over the last ``rampdown`` fraction; w-noise of ``noise`` * w_std, fading
    quadratically to zero at ``noise_end``; the first ``coarse`` fraction renders at half
    ``resolution`` (None: the generator's neural rendering resolution), and the first ``light``
    fraction with a third of the generator's samples per ray. Cameras move from
    ``camera_start`` on, at ``camera_lr`` (on the unbounded refinement parameters).
    Tuning stage: ``tune_steps`` Adam steps at constant ``tune_lr``, with ``locality_samples``
    random heads for the locality term.
    """

    steps: int
    lr: float
    warmup: float
    rampdown: float
    noise: float
    noise_end: float
    coarse: float
    camera_lr: float
    camera_start: float
    tune_steps: int
    tune_lr: float
    locality_samples: int = 4
    resolution: int | None = None
    light: float = 0.0


# PanoHead's projector (projector.py defaults) and PTI (350 steps at 3e-4).
PANOHEAD = Schedule(
    steps=500,
    lr=0.1,
    warmup=0.05,
    rampdown=0.25,
    noise=0.05,
    noise_end=0.75,
    coarse=0.0,
    camera_lr=0.02,
    camera_start=0.1,
    tune_steps=350,
    tune_lr=3e-4,
)
# PanoRig's default: a higher peak and shorter ramps, early steps at half resolution, w-noise
# only at the start, and light renders until the last tenth, so the fit gets to the reference's
# loss in a fraction of its time. A light W+ step costs 0.3 of a full one at 64^2 and 0.37-0.53
# at 32^2 on this CPU (one or two threads) and steers the latent almost as well
# (bench/inversion.py measures both).
PANORIG = Schedule(
    steps=400,
    lr=0.15,
    warmup=0.02,
    rampdown=0.3,
    noise=0.05,
    noise_end=0.3,
    coarse=0.4,
    camera_lr=0.03,
    camera_start=0.1,
    tune_steps=100,
    tune_lr=3e-4,
    light=0.9,
)
LIGHT_SAMPLES = 1 / 3  # of the generator's samples per ray, in a light render
MIN_LIGHT_SAMPLES = 8


@dataclass(frozen=True)
class LatentFit:
    """The W+ stage's result: ``ws`` [1, num_ws, w_dim], refined ``cameras`` [P, 25] and the
    unweighted loss terms of its last step."""

    ws: torch.Tensor
    cameras: torch.Tensor
    losses: dict[str, float]


def invert(
    G,
    photos: Sequence[AlignedPhoto],
    steps: int | None = None,
    tune_steps: int | None = None,
    progress: Progress | None = None,
    seed: int = 0,
    *,
    resolution: int | None = None,
    schedule: Schedule = PANORIG,
    weights: LossWeights = DEFAULT_WEIGHTS,
    preview: Preview | None = None,
    preview_every: int = 10,
) -> Head:
    """Fit one head to ``photos`` of the same person and return it with a tuned generator.

    ``steps``, ``tune_steps`` and ``resolution`` (the render size while fitting) override the
    schedule's (0 tuning steps: the head shares ``G``, unchanged). ``progress`` gets "W+ step
    i/N, loss x" and "tuning step i/N, loss x" every step and may raise to cancel; ``preview``
    gets the current renders (uint8 [H, W, 3], the photos side by side) every
    ``preview_every`` steps. ``G`` itself is never modified.
    """
    schedule = replace(
        schedule,
        steps=schedule.steps if steps is None else steps,
        tune_steps=schedule.tune_steps if tune_steps is None else tune_steps,
        resolution=schedule.resolution if resolution is None else resolution,
    )
    check_inputs(photos, schedule)
    # A tuning step costs about two W+ steps (the locality render, gradients for every weight).
    cost = schedule.steps + 2 * schedule.tune_steps
    split = schedule.steps / cost if cost else 1.0
    fit = fit_latent(
        G, photos, schedule, weights, scaled(progress, 0.0, split), preview, preview_every, seed
    )
    losses = {f"fit_{k}": v for k, v in fit.losses.items()}
    tuned, tune_losses = tune_generator(
        G,
        fit.ws,
        photos,
        fit.cameras,
        schedule,
        weights,
        scaled(progress, split, 1.0),
        preview,
        preview_every,
        seed,
    )
    losses.update({f"tuned_{k}": v for k, v in tune_losses.items()})
    angles = camera_angles(fit.cameras)
    return Head(
        G=tuned,
        ws=fit.ws,
        cameras=fit.cameras.cpu(),
        images=np.stack([p.image for p in photos]),
        masks=np.stack([np.asarray(p.mask, np.float32) for p in photos]),
        photos=[
            {
                "file": p.source,
                "yaw": float(yaw),
                "pitch": float(pitch),
                "roll": float(roll),
                "landmarks_found": bool(p.landmarks_found),
            }
            for p, (yaw, pitch, roll) in zip(photos, angles.tolist(), strict=True)
        ],
        losses=losses,
    )


def check_inputs(photos: Sequence[AlignedPhoto], schedule: Schedule) -> None:
    """Refuse what cannot be fitted, with what to do about it."""
    if len(photos) == 0:
        raise InversionError("no photos to invert.", "Give at least one aligned photo.")
    size = None
    for i, photo in enumerate(photos):
        name = photo.source or f"photo {i + 1}"
        image = np.asarray(photo.image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InversionError(
                f"{name}: the aligned image must be [S, S, 3] uint8, got {image.dtype} "
                f"{list(image.shape)}.",
                "Align the photo with align_photo or aligned_photo.",
            )
        if image.shape[0] != image.shape[1]:
            raise InversionError(
                f"{name}: the aligned image must be square, got {list(image.shape[:2])}.",
                "Align the photo with align_photo or aligned_photo.",
            )
        if size is None:
            size = image.shape[0]
        elif image.shape[0] != size:
            raise InversionError(
                f"{name}: the aligned photos differ in size ({image.shape[0]} vs {size} px).",
                "Align all photos to the same size.",
            )
        mask = np.asarray(photo.mask)
        if mask.shape != image.shape[:2] or not np.isfinite(mask).all():
            raise InversionError(
                f"{name}: the mask must be a finite [{size}, {size}] array, got "
                f"{list(mask.shape)}.",
                "Give a mask the size of the aligned image, or let alignment make it.",
            )
        camera = np.asarray(photo.camera, np.float64)
        if camera.shape != (25,) or not np.isfinite(camera).all():
            raise InversionError(
                f"{name}: the camera must be 25 finite numbers (cam2world and intrinsics).",
                "Use the camera alignment estimated, or orbit_cameras(yaw, pitch).",
            )
        rotation = camera[:16].reshape(4, 4)[:3, :3]
        if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-3):
            raise InversionError(
                f"{name}: the camera's rotation is not a rotation.",
                "Use the camera alignment estimated, or orbit_cameras(yaw, pitch).",
            )
    for name in ("steps", "tune_steps"):
        value = getattr(schedule, name)
        if not isinstance(value, int) or value < 0:
            raise InversionError(f"{name} must be a whole number >= 0, got {value!r}.", "")


# ----------------------------------------------------------------------------- latent statistics

_STATS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def latent_statistics(G, samples: int = 10_000, seed: int = 123) -> tuple[torch.Tensor, float]:
    """(w_avg [1, 1, w_dim], w_std) as PanoHead's projector computes them: ``samples`` z from
    RandomState(``seed``) mapped with the frontal conditioning camera. Cached per generator."""
    if G not in _STATS:
        device = next(G.parameters()).device
        z = torch.from_numpy(np.random.RandomState(seed).randn(samples, G.z_dim)).float()
        with torch.no_grad():
            w = G.mapping(z.to(device), conditioning_camera(samples).to(device))[:, :1]
        w_avg = w.mean(0, keepdim=True)
        w_std = float(((w - w_avg).square().sum() / samples).sqrt())
        _STATS[G] = (w_avg, w_std)
    return _STATS[G]


# ----------------------------------------------------------------------------- cameras


def refine_cameras(base: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Labels [P, 25] of the cameras ``base`` [P, 25] moved by ``params`` [P, 6].

    params[:, :3] orbit the camera about the head (the world origin) by a rotation given as an
    axis-angle in the camera's own axes (x: pitch, y: yaw, z: roll); params[:, 3:5] shift it
    sideways in its image plane (normalised image units at the head); params[:, 5] zooms (focal
    length). Each is bounded (tanh) so the camera stays a rigid camera near its estimate.
    """
    turn = MAX_TURN * torch.tanh(params[:, :3])
    shift = MAX_SHIFT * torch.tanh(params[:, 3:5])
    zoom = torch.exp(MAX_ZOOM * torch.tanh(params[:, 5]))
    cam2world = base[:, :16].reshape(-1, 4, 4)
    k = base[:, 16:].reshape(-1, 3, 3)
    r0, t0 = cam2world[:, :3, :3], cam2world[:, :3, 3:]
    rotation = r0 @ torch.linalg.matrix_exp(_skew(turn))
    origin = rotation @ (r0.transpose(1, 2) @ t0)
    distance = t0.norm(dim=1, keepdim=True)
    zeros = torch.zeros_like(shift[:, :1])
    offset = torch.cat([shift, zeros], dim=1)[..., None] * distance / k[:, :1, :1]
    origin = origin + rotation @ offset
    bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], device=base.device).expand(base.shape[0], 1, 4)
    cam2world = torch.cat([torch.cat([rotation, origin], dim=2), bottom], dim=1)
    scale = torch.stack([zoom, zoom, torch.ones_like(zoom)], dim=1)[..., None]
    k = torch.cat([k[:, :2] * scale[:, :2], k[:, 2:]], dim=1)
    return torch.cat([cam2world.reshape(-1, 16), k.reshape(-1, 9)], dim=1)


def _skew(v: torch.Tensor) -> torch.Tensor:
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(-1, 3, 3)


def camera_angles(labels: torch.Tensor) -> torch.Tensor:
    """Yaw, pitch, roll in degrees [P, 3] of camera labels [P, 25], in PanoRig's convention.

    Yaw and pitch are those of ``orbit_cameras`` for the camera's viewing direction (0, 0 =
    frontal; yaw 90 = from the subject's left; pitch > 0 = from above). Roll is the camera's
    turn about that direction, positive when the head appears turned counter-clockwise (the
    photo's roll convention).
    """
    rotation = labels[:, :16].reshape(-1, 4, 4)[:, :3, :3].double()
    right, forward = rotation[:, :, 0], rotation[:, :, 2]
    yaw = torch.atan2(-forward[:, 0], -forward[:, 2])
    pitch = torch.asin((-forward[:, 1]).clamp(-1, 1))
    up = torch.tensor([0.0, 1.0, 0.0], dtype=rotation.dtype, device=labels.device)
    up = up.expand_as(forward)
    level_right = -F.normalize(torch.linalg.cross(up, forward), dim=1)
    level_down = torch.linalg.cross(forward, level_right)
    roll = torch.atan2((right * level_down).sum(1), (right * level_right).sum(1))
    return torch.rad2deg(torch.stack([yaw, pitch, roll], dim=1)).float()


# ----------------------------------------------------------------------------- rendering


def photo_targets(
    photos: Sequence[AlignedPhoto], size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The photos [P, 3, size, size] in [-1, 1] and their masks [P, 1, size, size], resized
    with an antialiasing filter (downsampling averages, as the render does over a pixel)."""
    images = torch.from_numpy(np.stack([p.image for p in photos])).to(device)
    images = images.permute(0, 3, 1, 2).float() / 127.5 - 1
    masks = torch.from_numpy(np.stack([np.asarray(p.mask, np.float32) for p in photos]))
    masks = masks[:, None].to(device)
    if images.shape[-1] != size:
        images = F.interpolate(images, (size, size), mode="bilinear", antialias=True)
        masks = F.interpolate(masks, (size, size), mode="bilinear", antialias=True)
    return images, masks.clamp(0, 1)


class _Targets:
    """Photo targets per render size, made once each (coarse-to-fine revisits sizes)."""

    def __init__(self, G, photos: Sequence[AlignedPhoto], device: torch.device) -> None:
        self.photos, self.device, self._cache = photos, device, {}
        # With super-resolution the loss sees the full image; without, the render itself.
        self.image_size = G.img_resolution if G.superresolution is not None else None

    def __call__(self, render_size: int) -> dict[str, torch.Tensor]:
        if render_size not in self._cache:
            image, image_mask = photo_targets(
                self.photos, self.image_size or render_size, self.device
            )
            _, mask = photo_targets(self.photos, render_size, self.device)
            self._cache[render_size] = {"image": image, "image_mask": image_mask, "mask": mask}
        return self._cache[render_size]


def render(
    G,
    ws: torch.Tensor,
    cameras: torch.Tensor,
    size: int,
    depth_samples: tuple[int, int] | None = None,
) -> dict[str, torch.Tensor]:
    """One W+ latent [1, num_ws, w_dim] from every camera [P, 25] (backbone run once), with
    ``depth_samples`` (coarse, importance) per ray, or the generator's own."""
    count = cameras.shape[0]
    grids = G.synthesize_grids(ws, "const").expand(count, -1, -1, -1, -1)
    return G.synthesis(
        ws.expand(count, -1, -1),
        cameras,
        neural_rendering_resolution=size,
        noise_mode="const",
        deterministic=True,
        grids=grids,
        depth_samples=depth_samples,
    )


def _photo_terms(out: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict:
    return photo_losses(
        out["image"], out.get("image_mask"), target["image"], target["mask"], target["image_mask"]
    )


def _send_preview(preview: Preview | None, out: dict[str, torch.Tensor]) -> None:
    if preview is not None:
        preview(np.concatenate([image_to_uint8(im) for im in out["image"].detach()], axis=1))


def render_size(G, schedule: Schedule, fraction: float) -> int:
    """Render size at ``fraction`` of the W+ stage: half size for the coarse part (even, >= 16)."""
    full = schedule.resolution or G.neural_rendering_resolution
    if fraction < schedule.coarse:
        return max(16, full // 4 * 2)
    return full


def depth_samples(G, schedule: Schedule, fraction: float) -> tuple[int, int] | None:
    """Samples per ray (coarse, importance) at ``fraction`` of the W+ stage: a third of the
    generator's (at least 8) while the fit is light, None (the generator's own) after."""
    if fraction >= schedule.light:
        return None
    coarse, importance = G.config.depth_resolution, G.config.depth_resolution_importance
    return (
        max(MIN_LIGHT_SAMPLES, round(coarse * LIGHT_SAMPLES)),
        max(MIN_LIGHT_SAMPLES, round(importance * LIGHT_SAMPLES)) if importance else 0,
    )


# ----------------------------------------------------------------------------- stage 1: W+


def lr_ramp(schedule: Schedule, fraction: float) -> float:
    """PanoHead's lr schedule as a factor of the peak: linear ramp-up, cosine ramp-down."""
    down = min(1.0, (1.0 - fraction) / schedule.rampdown) if schedule.rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(down * math.pi)
    if schedule.warmup > 0:
        ramp *= min(1.0, fraction / schedule.warmup)
    return ramp


def fit_latent(
    G,
    photos: Sequence[AlignedPhoto],
    schedule: Schedule = PANORIG,
    weights: LossWeights = DEFAULT_WEIGHTS,
    progress: Progress | None = None,
    preview: Preview | None = None,
    preview_every: int = 10,
    seed: int = 0,
    on_step: StepHook | None = None,
) -> LatentFit:
    """Stage 1: one W+ latent for all photos and one refined camera per photo.

    ``on_step(step, ws, cameras)`` sees the current (detached) estimate after every step.
    """
    device = next(G.parameters()).device
    w_avg, w_std = latent_statistics(G)
    # Optimise W+ in units of w's per-element spread, so one lr suits generators whose latent
    # spaces differ in scale (the demo's w is about 0.18 wide per element).
    spread = w_std / math.sqrt(G.w_dim)
    offset = torch.zeros(1, G.num_ws, G.w_dim, device=device, requires_grad=True)
    base = torch.from_numpy(np.stack([np.asarray(p.camera, np.float32) for p in photos]))
    base = base.to(device)
    params = torch.zeros(len(photos), 6, device=device, requires_grad=True)
    optimizer = torch.optim.Adam(
        [{"params": [offset], "lr": 0.0}, {"params": [params], "lr": 0.0}], betas=(0.9, 0.999)
    )
    noise_source = torch.Generator(device).manual_seed(seed)
    targets = _Targets(G, photos, device)
    terms: dict[str, torch.Tensor] = {}
    total = torch.zeros(())
    for step in range(schedule.steps):
        fraction = step / schedule.steps
        ramp = lr_ramp(schedule, fraction)
        optimizer.param_groups[0]["lr"] = schedule.lr * ramp
        moving = fraction >= schedule.camera_start
        optimizer.param_groups[1]["lr"] = schedule.camera_lr * ramp if moving else 0.0
        fade = max(0.0, 1.0 - fraction / schedule.noise_end) ** 2 if schedule.noise_end else 0.0
        noise = torch.randn(offset.shape, generator=noise_source, device=device)
        size = render_size(G, schedule, fraction)
        ws = w_avg + spread * offset
        noisy = ws + noise * w_std * schedule.noise * fade
        samples = depth_samples(G, schedule, fraction)
        out = render(G, noisy, refine_cameras(base, params), size, samples)
        terms = _photo_terms(out, targets(size))
        terms["latent"] = latent_regulariser(ws, w_avg)
        total = weighted_sum(terms, weights)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        if on_step is not None:
            on_step(step, (w_avg + spread * offset).detach(), refine_cameras(base, params).detach())
        if preview is not None and (step % preview_every == 0 or step == schedule.steps - 1):
            _send_preview(preview, out)
        report(
            progress,
            (step + 1) / schedule.steps,
            f"W+ step {step + 1}/{schedule.steps}, loss {total.item():.3f}",
        )
    with torch.no_grad():
        ws, cameras = w_avg + spread * offset, refine_cameras(base, params)
    return LatentFit(ws, cameras, _floats(terms, total))


# ----------------------------------------------------------------------------- stage 2: tuning


def tune_generator(
    G,
    ws: torch.Tensor,
    photos: Sequence[AlignedPhoto],
    cameras: torch.Tensor,
    schedule: Schedule = PANORIG,
    weights: LossWeights = DEFAULT_WEIGHTS,
    progress: Progress | None = None,
    preview: Preview | None = None,
    preview_every: int = 10,
    seed: int = 0,
) -> tuple[torch.nn.Module, dict[str, float]]:
    """Stage 2 (PTI): every weight of a deep copy of ``G`` tuned so that the pivot ``ws`` seen
    from ``cameras`` matches the photos, while random other heads stay as ``G`` renders them.

    Returns (the tuned copy in eval mode without gradients, its last step's loss terms); with
    no tuning steps, (``G`` itself, {}).
    """
    if schedule.tune_steps == 0:
        return G, {}
    tuned = copy.deepcopy(G).requires_grad_(True)
    device = ws.device
    cameras = cameras.to(device)
    size = schedule.resolution or G.neural_rendering_resolution
    target = _Targets(G, photos, device)(size)
    local = weights.locality > 0 and schedule.locality_samples > 0
    if local:
        others, other_cameras, frozen = locality_samples(G, schedule.locality_samples, size, seed)
    optimizer = torch.optim.Adam(tuned.parameters(), lr=schedule.tune_lr)
    terms: dict[str, torch.Tensor] = {}
    total = torch.zeros(())
    for step in range(schedule.tune_steps):
        out = render(tuned, ws, cameras, size)
        terms = _photo_terms(out, target)
        if local:  # one of the other heads per step, in turn
            i = step % len(frozen)
            away = render(tuned, others[i : i + 1], other_cameras[i : i + 1], size)
            terms["locality"] = locality_loss(away, frozen[i])
        total = weighted_sum(terms, weights)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        if preview is not None and (step % preview_every == 0 or step == schedule.tune_steps - 1):
            _send_preview(preview, out)
        report(
            progress,
            (step + 1) / schedule.tune_steps,
            f"tuning step {step + 1}/{schedule.tune_steps}, loss {total.item():.3f}",
        )
    tuned.eval().requires_grad_(False)
    return tuned, _floats(terms, total)


def _floats(terms: dict[str, torch.Tensor], total: torch.Tensor) -> dict[str, float]:
    return {k: v.item() for k, v in terms.items()} | {"total": total.item()}


def locality_samples(
    G, count: int, size: int, seed: int = 0, psi: float = 0.7
) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, torch.Tensor]]]:
    """Random heads away from the pivot for the locality term: their ws [count, num_ws, w_dim],
    cameras [count, 25] (any yaw, pitch -10..20 degrees) and renders by ``G`` as it is."""
    device = next(G.parameters()).device
    rng = np.random.RandomState(seed)
    z = torch.from_numpy(rng.randn(count, G.z_dim)).float().to(device)
    cameras = orbit_cameras(rng.uniform(0, 360, count), rng.uniform(-10, 20, count)).to(device)
    with torch.no_grad():
        ws = G.mapping(z, conditioning_camera(count).to(device), truncation_psi=psi)
        frozen = [
            {k: v.detach() for k, v in render(G, ws[i : i + 1], cameras[i : i + 1], size).items()}
            for i in range(count)
        ]
    return ws, cameras, frozen
