"""Loading, saving and converting generator checkpoints."""

from __future__ import annotations

import dataclasses
import json
import pickletools

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from backend.cameras import orbit_cameras
from backend.models import (
    CheckpointError,
    UnsafeCheckpointError,
    convert_checkpoint,
    generator_from_snapshot,
    load_generator,
    save_generator,
)
from backend.models.official_pickle import read_official_snapshot
from backend.models.presets import tiny


@pytest.fixture(scope="module")
def tiny_pkl(shared_dir):
    return shared_dir / "fixtures" / "panohead_tiny" / "G_tiny.pkl"


def _render(G):
    z = torch.from_numpy(np.random.RandomState(3).randn(2, G.z_dim)).float()
    with torch.no_grad():
        return G(z, orbit_cameras([0.0, 135.0], 10.0), truncation_psi=0.7, deterministic=True)


def test_convert_round_trip_renders_identically(tiny_pkl, tmp_path):
    original = load_generator(tiny_pkl)
    out = convert_checkpoint(tiny_pkl, tmp_path / "tiny.safetensors")
    converted = load_generator(out)
    assert converted.config == original.config
    a, b = _render(original), _render(converted)
    for key in ("image", "image_raw", "image_depth", "image_mask", "delta_c"):
        assert torch.equal(a[key], b[key]), key
    # Loading ours does not go through pickle at all: the file is plain safetensors.
    assert out.read_bytes()[8:9] == b"{"


def test_saved_config_is_json_in_the_header(tmp_path):
    torch.manual_seed(0)
    G = tiny().build()
    path = save_generator(G, tmp_path / "g.safetensors")
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + header_len])
    config = json.loads(header["__metadata__"]["config"])
    assert config["grid_size"] == 64 and config["superresolution"] == "SuperresolutionHybrid2X"
    again = load_generator(path)
    for (k, v), (k2, v2) in zip(G.state_dict().items(), again.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)


def test_safetensors_whose_header_length_looks_like_a_pickle_loads(tmp_path):
    """A header of 0x010380 bytes starts the file with 80 03 01: PROTO 3 and an opcode."""
    torch.manual_seed(0)
    G = tiny().build()
    path, pad = tmp_path / "g.safetensors", 1000
    for _ in range(6):
        save_generator(G, path, extra={"pad": "x" * pad})
        length = int.from_bytes(path.read_bytes()[:8], "little")
        if length == 0x010380:
            break
        pad += 0x010380 - length
    assert path.read_bytes()[:3] == bytes([0x80, 0x03, 0x01])
    again = load_generator(path)
    assert torch.equal(
        again.state_dict()["decoder.net.0.weight"], G.state_dict()["decoder.net.0.weight"]
    )


def test_loaded_generator_is_frozen_and_in_eval(tiny_pkl):
    G = load_generator(tiny_pkl)
    assert not G.training
    assert not any(p.requires_grad for p in G.parameters())


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_generator(tmp_path / "nope.pkl")


def test_unknown_file_is_refused(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="neither an official PanoHead snapshot"):
        load_generator(path)


def test_foreign_safetensors_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(CheckpointError, match="not a PanoRig generator"):
        load_generator(path)


def test_own_format_with_mismatched_tensor_is_refused(tmp_path):
    torch.manual_seed(0)
    G = tiny().build()
    tensors = {k: v.contiguous() for k, v in G.state_dict().items()}
    tensors["decoder.net.0.weight"] = torch.zeros(64, 16)
    del tensors["torgb.bias"]
    meta = {
        "format": "panorig.generator",
        "format_version": "1",
        "config": json.dumps(G.config.to_dict()),
    }
    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(CheckpointError) as err:
        load_generator(path)
    text = str(err.value)
    assert "decoder.net.0.weight [64, 16] (needs [64, 32])" in text
    assert "torgb.bias" in text and "1 missing" in text


def test_newer_format_version_is_refused(tmp_path):
    torch.manual_seed(0)
    G = tiny().build()
    path = tmp_path / "future.safetensors"
    save_file(
        {k: v.contiguous() for k, v in G.state_dict().items()},
        str(path),
        metadata={"format": "panorig.generator", "format_version": "99", "config": "{}"},
    )
    with pytest.raises(CheckpointError, match="format '99'"):
        load_generator(path)


def test_official_snapshot_with_mismatched_tensors_is_refused(tiny_pkl):
    snap = read_official_snapshot(tiny_pkl)
    tensors = dict(snap.tensors)
    tensors["backbone.mapping.fc0.weight"] = torch.zeros(32, 100)
    tensors["extra.weight"] = torch.zeros(1)
    bad = dataclasses.replace(snap, tensors=tensors)
    with pytest.raises(CheckpointError) as err:
        generator_from_snapshot(bad)
    assert "backbone.mapping.fc0.weight [32, 100] (needs [32, 1024])" in str(err.value)
    assert "1 unexpected (e.g. extra.weight)" in str(err.value)


def test_official_snapshot_with_unknown_module_class_is_refused(tiny_pkl):
    snap = read_official_snapshot(tiny_pkl)
    tree = dict(snap.class_tree)
    tree["decoder"] = "FancyDecoder"
    with pytest.raises(CheckpointError, match="unknown module class 'FancyDecoder' at decoder"):
        generator_from_snapshot(dataclasses.replace(snap, class_tree=tree))
    tree = dict(snap.class_tree)
    tree["decoder"] = "ToRGBLayer"
    with pytest.raises(CheckpointError, match="decoder is a ToRGBLayer in the snapshot"):
        generator_from_snapshot(dataclasses.replace(snap, class_tree=tree))


def test_runtime_rendering_kwargs_win_over_init_kwargs(tiny_pkl):
    """PTI-finetuned snapshots carry e.g. ray_start 2.35 in the object, not in _init_kwargs."""
    snap = read_official_snapshot(tiny_pkl)
    rk = dict(snap.rendering_kwargs, ray_start=2.35)
    G = generator_from_snapshot(
        dataclasses.replace(snap, rendering_kwargs=rk, neural_rendering_resolution=32)
    )
    assert G.config.ray_start == 2.35 and G.renderer.settings.ray_start == 2.35
    assert G.neural_rendering_resolution == 32
    assert snap.init_kwargs["rendering_kwargs"]["ray_start"] == 2.25


@pytest.fixture(scope="module")
def eg3d_pkl(shared_dir):
    return shared_dir / "fixtures" / "eg3d_tiny" / "G_tiny.pkl"


def test_eg3d_snapshot_loads_as_a_tri_plane_generator(eg3d_pkl, tmp_path):
    G = load_generator(eg3d_pkl)
    assert G.config.architecture == "eg3d" and G.config.subject == "face"
    assert G.config.plane_axes[2] == [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    # PanoRig's own format keeps the architecture: the converted file renders identically.
    converted = load_generator(convert_checkpoint(eg3d_pkl, tmp_path / "eg3d.safetensors"))
    assert converted.config == G.config
    a, b = _render(G), _render(converted)
    assert "image_mask" not in a
    for key in ("image", "image_raw", "image_depth", "delta_c"):
        assert torch.equal(a[key], b[key]), key


def test_eg3d_snapshot_with_unknown_module_class_is_refused(eg3d_pkl, tmp_path):
    snap = read_official_snapshot(eg3d_pkl)
    tree = dict(snap.class_tree, superresolution="SuperresolutionHybridDeepfp32")
    with pytest.raises(
        CheckpointError, match="unknown module class 'SuperresolutionHybridDeepfp32'"
    ):
        generator_from_snapshot(dataclasses.replace(snap, class_tree=tree))
    # A PanoHead part in an EG3D snapshot is not explained by its configuration.
    tree = dict(snap.class_tree, t_mapping="MappingNetwork")
    with pytest.raises(CheckpointError, match="MappingNetwork at t_mapping"):
        generator_from_snapshot(dataclasses.replace(snap, class_tree=tree))
    # In the file itself, an unknown import-path class is refused by the unpickler.
    crafted = tmp_path / "crafted.pkl"
    crafted.write_bytes(eg3d_pkl.read_bytes().replace(b"OSGDecoder", b"OSGEncoder"))
    with pytest.raises(UnsafeCheckpointError, match="OSGEncoder"):
        load_generator(crafted)


def _patch_int_setting(data: bytes, key: str, old: int, new: int) -> bytes:
    """Change every ``key: old`` pair in a pickle stream (literal or memo-referenced key)."""
    ops = list(pickletools.genops(data))
    memo_of_key, memo_count, patches = None, 0, []
    for idx, (op, arg, _pos) in enumerate(ops):
        if op.name == "MEMOIZE":
            if ops[idx - 1][0].name.endswith("UNICODE") and ops[idx - 1][1] == key:
                memo_of_key = memo_count
            memo_count += 1
        is_key = (op.name.endswith("UNICODE") and arg == key) or (
            op.name in ("BINGET", "LONG_BINGET") and arg == memo_of_key
        )
        if is_key:
            nxt = ops[idx + 2] if ops[idx + 1][0].name == "MEMOIZE" else ops[idx + 1]
            if nxt[0].name == "BININT1" and nxt[1] == old:
                patches.append(nxt[2] + 1)
    assert patches, f"{key} not found"
    out = bytearray(data)
    for at in patches:
        out[at] = new
    return bytes(out)


def test_official_file_whose_tensors_do_not_match_its_configuration(tiny_pkl, tmp_path):
    """A snapshot claiming 2 depth slices per grid while holding tensors made for 3."""
    bad = tmp_path / "depth2.pkl"
    bad.write_bytes(_patch_int_setting(tiny_pkl.read_bytes(), "triplane_depth", 3, 2))
    with pytest.raises(CheckpointError) as err:
        load_generator(bad)
    assert "do not match its configuration" in str(err.value)
    assert "6 with the wrong shape" in str(err.value)
    assert "torgb.weight [288, 16, 1, 1] (needs [192, 16, 1, 1])" in str(err.value)


@pytest.mark.parametrize("y, half", [(float("nan"), 0.45), (0.5, 0.0), (0.5, 3.0), (-1.0, 0.45)])
def test_a_framing_that_places_no_face_is_refused(tmp_path, y, half):
    """``face_quad_*`` crop every photo before a fit: an edited value must not load silently."""
    torch.manual_seed(0)
    G = tiny().build()
    config = {**G.config.to_dict(), "face_quad_y": y, "face_quad_half": half}
    path = tmp_path / "framed.safetensors"
    save_file(
        {k: v.contiguous() for k, v in G.state_dict().items()},
        str(path),
        metadata={
            "format": "panorig.generator",
            "format_version": "1",
            "config": json.dumps(config),
        },
    )
    with pytest.raises(CheckpointError, match="face_quad_y=.*Remove both keys"):
        load_generator(path)
