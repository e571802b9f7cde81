"""Loading and saving generators: official PanoHead/EG3D snapshots and PanoRig's own format.

PanoRig's format is one ``.safetensors`` file: the tensors by their state-dict names, and in the
header metadata the JSON of ``GeneratorConfig`` — no pickle anywhere, memory-mapped on load.
Official snapshots go through the restricted reader in ``official_pickle`` and are mapped class
by class onto PanoRig's modules; nothing embedded in them is executed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from ..devices import resolve_device
from . import decoder, generator, stylegan2, superresolution
from .config import GeneratorConfig
from .errors import CheckpointError
from .generator import TriGridGenerator
from .official_pickle import OfficialSnapshot, is_official_snapshot, read_official_snapshot
from .presets import PRESETS

FORMAT_NAME = "panorig.generator"
DEMO = "demo"
DEMO_PATH = Path(__file__).resolve().parents[1] / "assets" / "demo_generator.safetensors"
RANDOM_PREFIX = "random:"
FORMAT_VERSION = "1"

# Official class name -> PanoRig module class (None: stateless in PanoRig, nothing to map).
_OFFICIAL_CLASSES: dict[str, type[nn.Module] | None] = {
    "TriPlaneGenerator": generator.TriGridGenerator,
    "Generator": stylegan2.Backbone,
    "MappingNetwork": stylegan2.MappingNetwork,
    "SynthesisNetwork": stylegan2.SynthesisNetwork,
    "SynthesisBlock": stylegan2.SynthesisBlock,
    "SynthesisBlockNoUp": stylegan2.SynthesisBlock,
    "SynthesisLayer": stylegan2.SynthesisLayer,
    "ToRGBLayer": stylegan2.ToRGBLayer,
    "FullyConnectedLayer": stylegan2.FullyConnectedLayer,
    "OSGDecoder": decoder.FeatureDecoder,
    "Sequential": nn.Sequential,
    "Softplus": nn.Softplus,
    "ImportanceRenderer": None,
    "MipRayMarcher2": None,
    "RaySampler": None,
    **{name: superresolution.SuperResolution for name in superresolution.SR_MODULES},
}
_STATELESS_PATHS = {"renderer", "renderer.ray_marcher", "ray_sampler"}


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> TriGridGenerator:
    """Load an official PanoHead or EG3D snapshot (.pkl) or a PanoRig checkpoint (.safetensors).

    The generator is returned in eval mode with gradients disabled, on ``device``
    ('auto' picks CUDA when available).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint not found: {path}.",
            "Check the path; official PanoHead or EG3D weights must be downloaded by you.",
        )
    target = resolve_device(device) if isinstance(device, str) else device
    if not is_safetensors(path) and is_official_snapshot(path):
        G = generator_from_snapshot(read_official_snapshot(path))
    else:
        G = _load_panorig(path)
    return G.to(target).eval().requires_grad_(False)


def is_safetensors(path: Path) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then that many bytes of JSON
    object. Checked first, because the length's low byte can look like a pickle's PROTO."""
    try:
        with open(path, "rb") as f:
            length = int.from_bytes(f.read(8), "little")
            if not 2 <= length <= path.stat().st_size - 8:
                return False
            first = f.read(1)
            f.seek(8 + length - 1)
            last = f.read(1)
    except OSError:
        return False
    return first == b"{" and last in (b"}", b" ")


def open_generator(spec: str, device: str | torch.device = "cpu") -> TriGridGenerator:
    """A generator by checkpoint spec: ``demo`` (the bundled demo model), a file path, or
    ``random:<preset>`` (random weights, seeded, for tests and benchmarks)."""
    if spec == DEMO:
        if not DEMO_PATH.is_file():
            raise CheckpointError(
                f"the bundled demo model is missing ({DEMO_PATH}).",
                "Rebuild it with 'python -m backend train-demo' or restore it from git.",
            )
        return load_generator(DEMO_PATH, device=device)
    if spec.startswith(RANDOM_PREFIX):
        name = spec[len(RANDOM_PREFIX) :]
        if name not in PRESETS:
            raise CheckpointError(
                f"unknown preset {name!r}.", f"Choose one of {', '.join(PRESETS)}."
            )
        torch.manual_seed(0)
        G = PRESETS[name]().build()
        target = resolve_device(device) if isinstance(device, str) else device
        return G.to(target).eval().requires_grad_(False)
    return load_generator(spec, device=device)


def generator_from_snapshot(snapshot: OfficialSnapshot) -> TriGridGenerator:
    """Build PanoRig's generator for an official snapshot and fill it with its tensors.

    PanoHead (tri-grid) and EG3D (tri-plane) snapshots share the root class name; the
    configuration tells them apart, and every module class must then match what it builds.
    """
    root = snapshot.class_tree.get("")
    if root != "TriPlaneGenerator":
        raise CheckpointError(
            f"the snapshot holds a {root!r} network, not a TriPlaneGenerator.",
            "Only PanoHead and EG3D generator snapshots can be loaded.",
        )
    axes = None if snapshot.plane_axes is None else snapshot.plane_axes.tolist()
    config = GeneratorConfig.from_official(
        snapshot.init_kwargs, snapshot.rendering_kwargs, snapshot.neural_rendering_resolution, axes
    )
    G = _build(config)
    _check_classes(G, snapshot.class_tree)
    _assign_tensors(G, snapshot.tensors, "the official snapshot")
    return G


def save_generator(
    G: TriGridGenerator, path: str | os.PathLike, extra: dict[str, str] | None = None
) -> Path:
    """Write ``G`` in PanoRig's format (one .safetensors file with the JSON config inside);
    ``extra`` adds string metadata (e.g. how a model was trained)."""
    path = Path(path)
    tensors = {
        k: v.detach().to("cpu", torch.float32).contiguous() for k, v in G.state_dict().items()
    }
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(G.config.to_dict(), sort_keys=True),
        **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Convert an official snapshot to PanoRig's format."""
    src = Path(src)
    if not src.is_file():
        raise CheckpointError(f"checkpoint not found: {src}.", "Check the path.")
    if not is_official_snapshot(src):
        raise CheckpointError(
            f"{src} is not an official PanoHead or EG3D snapshot (.pkl).",
            "Convert only the .pkl files PanoHead's or EG3D's training or PTI scripts write.",
        )
    return save_generator(generator_from_snapshot(read_official_snapshot(src)), dst)


def _build(config: GeneratorConfig) -> TriGridGenerator:
    try:
        return config.build()
    except (ValueError, TypeError) as exc:
        raise CheckpointError(
            f"the generator configuration cannot be built: {exc}.",
            "The checkpoint is not a supported PanoHead or EG3D model.",
        ) from exc


def read_safetensors(
    path: Path, problem: str, hint: str
) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """(metadata, tensors) of a .safetensors file; ``problem`` and ``hint`` word the error for
    a file that cannot be read."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}, {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} {problem} ({exc}).", hint) from exc


def _load_panorig(path: Path) -> TriGridGenerator:
    meta, tensors = read_safetensors(
        path,
        "is neither an official PanoHead snapshot nor a readable PanoRig checkpoint",
        "Give a PanoHead .pkl or a .safetensors written by 'python -m backend convert'.",
    )
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path} is a safetensors file but not a PanoRig generator checkpoint.",
            "Convert official weights with 'python -m backend convert'.",
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} uses PanoRig checkpoint format {meta.get('format_version')!r}; "
            f"this PanoRig reads {FORMAT_VERSION!r}.",
            "Update PanoRig or convert the original checkpoint again.",
        )
    try:
        config = GeneratorConfig.from_dict(json.loads(meta["config"]))
    except (KeyError, json.JSONDecodeError, TypeError) as exc:
        raise CheckpointError(
            f"{path} has a damaged configuration ({exc!r}).", "Convert again."
        ) from exc
    G = _build(config)
    _assign_tensors(G, tensors, str(path))
    return G


def _check_classes(G: TriGridGenerator, class_tree: dict[str, str]) -> None:
    for module_path, class_name in class_tree.items():
        if class_name not in _OFFICIAL_CLASSES:
            raise CheckpointError(
                f"unknown module class {class_name!r} at {module_path or '<root>'}.",
                "The snapshot is not a PanoHead or EG3D generator PanoRig knows how to load.",
            )
        expected = _OFFICIAL_CLASSES[class_name]
        if expected is None:
            if module_path not in _STATELESS_PATHS:
                raise CheckpointError(f"unexpected {class_name} at {module_path}.", "")
            continue
        try:
            ours = G.get_submodule(module_path)
        except AttributeError as exc:
            raise CheckpointError(
                f"the snapshot has a {class_name} at {module_path} that its configuration does "
                "not explain.",
                "The snapshot is not a standard PanoHead or EG3D generator.",
            ) from exc
        if not isinstance(ours, expected):
            raise CheckpointError(
                f"{module_path or '<root>'} is a {class_name} in the snapshot but the "
                f"configuration builds a {type(ours).__name__}.",
                "The snapshot is not a standard PanoHead or EG3D generator.",
            )


def _assign_tensors(G: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``tensors`` into ``G``; any missing, extra or mis-shaped tensor is a clear error."""
    expected = G.state_dict()
    missing = [k for k in expected if k not in tensors]
    extra = [k for k in tensors if k not in expected]
    wrong = [
        f"{k} {list(tensors[k].shape)} (needs {list(v.shape)})"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
    if extra:
        problems.append(f"{len(extra)} unexpected (e.g. {', '.join(extra[:3])})")
    if wrong:
        problems.append(f"{len(wrong)} with the wrong shape (e.g. {'; '.join(wrong[:3])})")
    if problems:
        raise CheckpointError(
            f"the tensors in {source} do not match its configuration: {', '.join(problems)}.",
            "The file is damaged or was edited; use the original checkpoint.",
        )
    G.load_state_dict({k: tensors[k].to(torch.float32) for k in expected})
