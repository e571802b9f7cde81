"""The add-on's Blender-free modules, imported from the source tree (no zip, no bpy)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.common import rig_arrays
from backend.common.sequences import JAW, NECK, Sequence
from blender_addon import backend_process, client, decode, rig_decode

from .test_rig_arrays import FLAME_JOINTS, synthetic_fields


def test_modules_import_without_blender():
    assert "bpy" not in sys.modules
    assert client.protocol.__name__ == "backend.common.protocol"  # the source tree's copy
    assert 1024 <= backend_process.free_port() < 65536


def test_generator_to_blender_round_trip():
    up, face, left = np.eye(3, dtype=np.float32)[[1, 2, 0]]
    # Generator +y up / face toward +z  ->  Blender +Z up / front toward -Y; left stays +X.
    np.testing.assert_array_equal(decode.generator_to_blender(up), [0, 0, 1])
    np.testing.assert_array_equal(decode.generator_to_blender(face), [0, -1, 0])
    np.testing.assert_array_equal(decode.generator_to_blender(left), [1, 0, 0])
    points = np.random.default_rng(0).normal(size=(4, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(
        decode.blender_to_generator(decode.generator_to_blender(points)), points, atol=1e-7
    )


def test_rig_from_result_lays_the_reply_out_for_blender():
    fields = synthetic_fields()
    data, arrays = rig_arrays.to_reply(fields)
    rig = rig_decode.rig_from_result(arrays, data)
    joints = fields["joints"]
    np.testing.assert_array_equal(
        rig.joints, np.stack([joints[:, 0], -joints[:, 2], joints[:, 1]], 1)
    )
    assert rig.parents == (-1, 0, 1, 1, 1) and rig.joint_names == FLAME_JOINTS
    np.testing.assert_array_equal(rig.weights, fields["weights"])
    np.testing.assert_array_equal(
        rig.correctives, decode.generator_to_blender(fields["pose_correctives"])
    )
    assert len(rig.corrective_names) == 36 and rig.corrective_names[9] == "pose_jaw_00"
    assert [bone for bone, _ in rig.corrective_drivers[::9]] == ["neck", "jaw", "eye_L", "eye_R"]
    # Each driver computes its entry of R - I from the bone's quaternion.
    rotation = Rotation.from_rotvec([0.3, -0.2, 0.5])
    w, x, y, z = rotation.as_quat()[[3, 0, 1, 2]]
    expected = rotation.as_matrix() - np.eye(3)
    for name, (_, expression) in zip(rig.corrective_names, rig.corrective_drivers, strict=True):
        row, col = int(name[-2]), int(name[-1])
        value = eval(expression, {"__builtins__": {}}, {"w": w, "x": x, "y": y, "z": z})
        assert value == pytest.approx(expected[row, col], abs=1e-12), name
    assert rig.slider_range == (-5.0, 5.0)  # FLAME coefficients
    assert rig.model_name == "FLAME 2020" and rig.release == "flame2020"


def test_rig_from_result_template_rig_and_damaged_reply():
    fields = dict(
        synthetic_fields(),
        expression_names=("jawOpen", "eyeBlinkLeft", "mouthSmileLeft"),
        pose_correctives=np.zeros((0, 12, 3), np.float32),
    )
    data, arrays = rig_arrays.to_reply(fields)
    rig = rig_decode.rig_from_result(arrays, data)
    assert rig.slider_range == (-1.0, 2.0) and rig.corrective_names == ()
    del data["release"]
    with pytest.raises(ValueError, match="no 'release'"):  # the add-on reports ValueErrors
        rig_decode.rig_from_result(arrays, data)


def _sequence(fps: float, frames: int, names: tuple[str, ...], release: str | None) -> Sequence:
    t = np.arange(frames) / fps
    pose = np.zeros((frames, 5, 3))
    pose[:, NECK] = np.stack([0.1 * t, 2.0 * t, 0 * t], 1)  # turns past a half turn
    pose[:, JAW, 0] = 0.2 * np.sin(t)
    expression = np.stack([np.sin(t + k) for k in range(len(names) or 3)], 1)
    return Sequence(fps, expression, names, pose, np.zeros((frames, 3)), release, "test")


def test_channels_for_maps_bones_keys_and_bakes_correctives():
    seq = _sequence(30.0, 61, ("jawOpen", "mouthSmileLeft", "cheekPuff"), None)
    correctives = ("pose_neck_00", "pose_neck_21", "pose_jaw_12", "pose_eye_L_00")
    channels = rig_decode.channels_for(
        seq, FLAME_JOINTS, ("jawOpen", "mouthSmileLeft"), "template", 24.0, 10, correctives
    )
    assert len(channels.frames) == 49 and channels.frames[0] == 10 and channels.frames[-1] == 58
    assert set(channels.bones) == {"neck", "jaw"}  # joints at rest get no curves
    assert channels.skipped == ("cheekPuff",)
    neck = channels.bones["neck"]
    assert neck.dtype == np.float32 and neck.shape == (49, 4)
    assert np.all(np.sum(neck[1:] * neck[:-1], axis=1) > 0)  # no sign flips between keys
    # The keys are the resampled rotations: the same at both ends of the clip.
    first, last = (Rotation.from_quat(neck[k][[1, 2, 3, 0]]) for k in (0, -1))
    assert (last * Rotation.from_rotvec(seq.pose[-1, NECK]).inv()).magnitude() < 1e-5
    assert first.magnitude() < 1e-6
    # Baked correctives are R - I of the keyed rotation (what the drivers would compute).
    matrices = Rotation.from_quat(neck[:, [1, 2, 3, 0]].astype(np.float64)).as_matrix()
    np.testing.assert_allclose(channels.shapes["pose_neck_21"], matrices[:, 2, 1], atol=1e-6)
    np.testing.assert_allclose(channels.shapes["pose_neck_00"], matrices[:, 0, 0] - 1, atol=1e-6)
    assert "pose_jaw_12" in channels.shapes and "pose_eye_L_00" not in channels.shapes
    assert set(channels.shapes) == {"jawOpen", "mouthSmileLeft", *correctives[:3]}


def test_channels_for_flame_coefficients_and_release_check():
    seq = _sequence(25.0, 10, (), "flame2020")
    names = tuple(f"exp_{k:03d}" for k in range(50))
    channels = rig_decode.channels_for(seq, FLAME_JOINTS, names, "flame2020", 25.0)
    assert sorted(channels.shapes) == ["exp_000", "exp_001", "exp_002"]
    np.testing.assert_array_equal(channels.shapes["exp_001"], seq.expression[:, 1])
    assert not channels.skipped and list(channels.frames) == list(range(1, 11))
    template = rig_decode.channels_for(seq, FLAME_JOINTS, ("jawOpen",), "template", 25.0)
    assert template.shapes == {} and "FLAME expression" in template.skipped[0]
    with pytest.raises(rig_decode.SequenceMismatchError, match="tracked with flame2020"):
        rig_decode.channels_for(seq, FLAME_JOINTS, names, "flame2023", 25.0)
