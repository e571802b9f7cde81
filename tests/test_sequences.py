"""Sequence readers, resampling and the demo performance, on files written by the tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from backend.common.sequences import (
    ARKIT_NAMES,
    EYE_L,
    EYE_R,
    JAW,
    NECK,
    ROOT,
    Sequence,
    SequenceError,
    demo_sequence,
    load_sequence,
    resample,
)

T = 7


def _rand(rng: np.random.Generator, *shape: int, scale: float = 0.3) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _vhap_arrays(t: int = T) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "rotation": _rand(rng, t, 3),
        "translation": _rand(rng, t, 3, scale=0.01),
        "neck_pose": _rand(rng, t, 3),
        "jaw_pose": _rand(rng, t, 3),
        "eyes_pose": _rand(rng, t, 6),
        "expr": _rand(rng, t, 100, scale=1.0),
        "shape": _rand(rng, 300),
        "timestep_id": np.arange(t),
        "dynamic_offset": np.zeros((t, 4, 3), np.float32),  # extra keys are ignored
    }


# ---------------------------------------------------------------------------------------- VHAP


def test_vhap_npz_fields_land_in_flame_joint_order(tmp_path):
    arrays = _vhap_arrays()
    path = tmp_path / "tracked_flame_params.npz"
    np.savez(path, **arrays)
    seq = load_sequence(path)
    assert seq.frames == T and seq.fps == 30.0
    assert seq.release == "flame2023" and seq.source == "VHAP npz"
    assert seq.expression_names == ()
    assert seq.expression.dtype == np.float32 and seq.pose.shape == (T, 5, 3)
    np.testing.assert_array_equal(seq.expression, arrays["expr"])
    np.testing.assert_array_equal(seq.pose[:, ROOT], arrays["rotation"])
    np.testing.assert_array_equal(seq.pose[:, NECK], arrays["neck_pose"])
    np.testing.assert_array_equal(seq.pose[:, JAW], arrays["jaw_pose"])
    np.testing.assert_array_equal(seq.pose[:, EYE_L], arrays["eyes_pose"][:, :3])
    np.testing.assert_array_equal(seq.pose[:, EYE_R], arrays["eyes_pose"][:, 3:])
    np.testing.assert_array_equal(seq.translation, arrays["translation"])
    assert load_sequence(path, fps=25).fps == 25.0


def test_vhap_missing_key_names_it(tmp_path):
    arrays = _vhap_arrays()
    del arrays["jaw_pose"]
    np.savez(tmp_path / "a.npz", **arrays)
    with pytest.raises(SequenceError, match="'jaw_pose'") as info:
        load_sequence(tmp_path / "a.npz")
    assert "VHAP" in info.value.message and info.value.hint


def test_wrong_shape_names_key_and_expected_shape(tmp_path):
    arrays = _vhap_arrays()
    arrays["eyes_pose"] = arrays["eyes_pose"][:, :3]
    np.savez(tmp_path / "a.npz", **arrays)
    with pytest.raises(SequenceError, match=r"'eyes_pose' has shape \(7, 3\), expected \(T, 6\)"):
        load_sequence(tmp_path / "a.npz")


def test_frame_count_mismatch_and_nan_are_refused(tmp_path):
    arrays = _vhap_arrays()
    arrays["neck_pose"] = arrays["neck_pose"][:-1]
    np.savez(tmp_path / "a.npz", **arrays)
    with pytest.raises(SequenceError, match="'neck_pose' has 6 frames"):
        load_sequence(tmp_path / "a.npz")
    arrays = _vhap_arrays()
    arrays["expr"][3, 5] = np.nan
    np.savez(tmp_path / "b.npz", **arrays)
    with pytest.raises(SequenceError, match="NaN"):
        load_sequence(tmp_path / "b.npz")


def test_vhap_per_frame_npz_folder(tmp_path):
    arrays = _vhap_arrays()
    folder = tmp_path / "flame_param"
    folder.mkdir()
    for t in range(T):  # VHAP's NeRF export: one file per frame, leading dim 1
        frame = {k: v[t : t + 1] for k, v in arrays.items() if k not in ("shape",)}
        np.savez(folder / f"{t}.npz", shape=arrays["shape"][None], **frame)
    seq = load_sequence(folder)
    assert seq.release == "flame2023" and seq.frames == T
    np.testing.assert_array_equal(seq.expression, arrays["expr"])
    np.testing.assert_array_equal(seq.pose[:, EYE_R], arrays["eyes_pose"][:, 3:])


# ----------------------------------------------------------------------------------- NeRSemble


def test_nersemble_flame_tracking(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {
        "shape": _rand(rng, 1, 300),
        "expression": _rand(rng, T, 100),
        "rotation": _rand(rng, T, 3),
        "rotation_matrices": np.tile(np.eye(3, dtype=np.float32), (T, 1, 1)),
        "translation": _rand(rng, T, 3),
        "jaw": _rand(rng, T, 3),
        "neck": _rand(rng, T, 3),
        "eyes": _rand(rng, T, 6),
        "frames": np.arange(T) * 3,  # every third captured frame
        "scale": np.ones((1, 1), np.float32),
    }
    np.savez(tmp_path / "flame.npz", **arrays)
    seq = load_sequence(tmp_path / "flame.npz")
    assert seq.release == "flame2023" and seq.source.startswith("NeRSemble")
    assert seq.fps == pytest.approx(73.0 / 3)
    np.testing.assert_array_equal(seq.expression, arrays["expression"])
    np.testing.assert_array_equal(seq.pose[:, ROOT], arrays["rotation"])
    np.testing.assert_array_equal(seq.pose[:, NECK], arrays["neck"])
    np.testing.assert_array_equal(seq.pose[:, JAW], arrays["jaw"])
    np.testing.assert_array_equal(seq.pose[:, EYE_L], arrays["eyes"][:, :3])
    np.testing.assert_array_equal(seq.pose[:, EYE_R], arrays["eyes"][:, 3:])
    np.testing.assert_array_equal(seq.translation, arrays["translation"])


# --------------------------------------------------------------------------------------- EMOCA


def _emoca_codes(t: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    return _rand(rng, t, 50, scale=1.0), _rand(rng, t, 6)


def test_emoca_folder_sorted_naturally(tmp_path):
    exp, pose = _emoca_codes()
    take = tmp_path / "take"
    for t in range(len(exp)):
        frame = take / f"frame_{t}"  # frame_10 must come after frame_9, not after frame_1
        frame.mkdir(parents=True)
        np.save(frame / "exp.npy", exp[t])
        np.save(frame / "pose.npy", pose[t])
        np.save(frame / "shape.npy", np.zeros(100, np.float32))
    seq = load_sequence(take)
    assert seq.fps == 25.0 and seq.release == "flame2020" and seq.source == "EMOCA codes"
    np.testing.assert_array_equal(seq.expression, exp)
    np.testing.assert_array_equal(seq.pose[:, ROOT], pose[:, :3])
    np.testing.assert_array_equal(seq.pose[:, JAW], pose[:, 3:])
    assert not seq.pose[:, [NECK, EYE_L, EYE_R]].any() and not seq.translation.any()
    # picking one code file (what a file browser allows) loads the whole take
    again = load_sequence(take / "frame_3" / "exp.npy", fps=50)
    np.testing.assert_array_equal(again.expression, exp)
    assert again.fps == 50.0


def test_emoca_npz(tmp_path):
    exp, pose = _emoca_codes()
    np.savez(tmp_path / "codes.npz", exp=exp, pose=pose)
    seq = load_sequence(tmp_path / "codes.npz")
    assert seq.release == "flame2020" and seq.fps == 25.0
    np.testing.assert_array_equal(seq.expression, exp)
    np.testing.assert_array_equal(seq.pose[:, JAW], pose[:, 3:])


def test_emoca_errors(tmp_path):
    exp, pose = _emoca_codes()
    np.savez(tmp_path / "codes.npz", exp=exp, pose=pose[:, :3])
    with pytest.raises(SequenceError, match=r"'pose' has shape \(12, 3\), expected \(T, 6\)"):
        load_sequence(tmp_path / "codes.npz")
    frame = tmp_path / "take" / "000001_000"
    frame.mkdir(parents=True)
    np.save(frame / "exp.npy", exp[0])
    with pytest.raises(SequenceError, match="no pose.npy"):
        load_sequence(tmp_path / "take")
    with pytest.raises(SequenceError, match="no per-frame sequence data"):
        load_sequence(tmp_path / "take" / "000001_000")


# ----------------------------------------------------------------------------------- plain npz


def test_plain_npz_missing_parts_are_zero(tmp_path):
    rng = np.random.default_rng(3)
    expr, jaw = _rand(rng, T, 50), _rand(rng, T, 3)
    np.savez(tmp_path / "p.npz", expr=expr, jaw_pose=jaw)
    seq = load_sequence(tmp_path / "p.npz")
    assert seq.fps == 30.0 and seq.release is None and seq.source == "FLAME parameter npz"
    np.testing.assert_array_equal(seq.expression, expr)
    np.testing.assert_array_equal(seq.pose[:, JAW], jaw)
    assert not seq.pose[:, [ROOT, NECK, EYE_L, EYE_R]].any()
    assert seq.translation.shape == (T, 3) and not seq.translation.any()


def test_plain_npz_separate_eyes_fps_and_release(tmp_path):
    rng = np.random.default_rng(4)
    a = {k: _rand(rng, T, 3) for k in ("eye_l_pose", "eye_r_pose", "rotation", "translation")}
    # a `shape` key does not make it VHAP: its own fps/release metadata wins
    np.savez(tmp_path / "p.npz", expr=_rand(rng, T, 100), fps=24.0, release="FLAME2020", **a)
    seq = load_sequence(tmp_path / "p.npz")
    assert seq.fps == 24.0 and seq.release == "flame2020"
    np.testing.assert_array_equal(seq.pose[:, EYE_L], a["eye_l_pose"])
    np.testing.assert_array_equal(seq.pose[:, EYE_R], a["eye_r_pose"])
    np.testing.assert_array_equal(seq.pose[:, ROOT], a["rotation"])
    np.testing.assert_array_equal(seq.translation, a["translation"])
    assert load_sequence(tmp_path / "p.npz", fps=60).fps == 60.0


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "none.npz", vertices=np.zeros((3, 5023, 3)))
    with pytest.raises(SequenceError, match="none of the expected expression arrays") as info:
        load_sequence(tmp_path / "none.npz")
    assert "Live Link Face" in info.value.hint  # the hint lists what is supported
    np.savez(tmp_path / "fps.npz", expr=np.zeros((T, 10)), fps=-5.0)
    with pytest.raises(SequenceError, match="positive frame rate"):
        load_sequence(tmp_path / "fps.npz")
    np.savez(tmp_path / "obj.npz", expr=np.array([{"a": 1}], dtype=object))
    with pytest.raises(SequenceError, match="pickled"):
        load_sequence(tmp_path / "obj.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SequenceError, match="not a readable .npz"):
        load_sequence(tmp_path / "broken.npz")


# ----------------------------------------------------------------------------- Live Link Face

LLF_SHAPES = (  # Live Link Face's column order (differs from Apple's: JawRight before JawLeft)
    "EyeBlinkLeft,EyeLookDownLeft,EyeLookInLeft,EyeLookOutLeft,EyeLookUpLeft,EyeSquintLeft,"
    "EyeWideLeft,EyeBlinkRight,EyeLookDownRight,EyeLookInRight,EyeLookOutRight,EyeLookUpRight,"
    "EyeSquintRight,EyeWideRight,JawForward,JawRight,JawLeft,JawOpen,MouthClose,MouthFunnel,"
    "MouthPucker,MouthRight,MouthLeft,MouthSmileLeft,MouthSmileRight,MouthFrownLeft,"
    "MouthFrownRight,MouthDimpleLeft,MouthDimpleRight,MouthStretchLeft,MouthStretchRight,"
    "MouthRollLower,MouthRollUpper,MouthShrugLower,MouthShrugUpper,MouthPressLeft,"
    "MouthPressRight,MouthLowerDownLeft,MouthLowerDownRight,MouthUpperUpLeft,MouthUpperUpRight,"
    "BrowDownLeft,BrowDownRight,BrowInnerUp,BrowOuterUpLeft,BrowOuterUpRight,CheekPuff,"
    "CheekSquintLeft,CheekSquintRight,NoseSneerLeft,NoseSneerRight,TongueOut"
).split(",")
LLF_ANGLES = (
    "HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,LeftEyeRoll,"
    "RightEyeYaw,RightEyePitch,RightEyeRoll"
).split(",")


def _write_llf(path, rows: int, rate: int, start=(12, 34, 56, 30), angle_scale=0.4, seed=5):
    """A Live Link Face take: `rows` frames at `rate` fps; returns the data columns."""
    assert len(LLF_SHAPES) + len(LLF_ANGLES) == 61
    rng = np.random.default_rng(seed)
    shapes = rng.uniform(0, 1, (rows, 52))
    angles = rng.uniform(-angle_scale, angle_scale, (rows, 9))
    h, m, s, f = start
    first = ((h * 60 + m) * 60 + s) * rate + f
    lines = [",".join(["Timecode", "BlendShapeCount", *LLF_SHAPES, *LLF_ANGLES])]
    for r in range(rows):
        n = first + r
        tc = f"{n // rate // 3600:02d}:{n // rate // 60 % 60:02d}:{n // rate % 60:02d}:"
        tc += f"{n % rate:02d}.{(r * 37) % 1000:03d}"
        values = [f"{v:.8f}" for v in (*shapes[r], *angles[r])]
        lines.append(",".join([tc, "61", *values]))
    path.write_text("\n".join(lines) + "\n")
    return shapes, angles


def test_live_link_face_csv(tmp_path):
    path = tmp_path / "take.csv"
    shapes, angles = _write_llf(path, rows=150, rate=60)  # 2.5 s across 3 timecode seconds
    seq = load_sequence(path)
    assert seq.fps == 60.0 and seq.release is None
    assert seq.source == "ARKit CSV (Live Link Face)"
    assert seq.expression_names == ARKIT_NAMES and len(ARKIT_NAMES) == 52
    assert seq.expression.shape == (150, 52)
    for column, pascal in enumerate(LLF_SHAPES):
        camel = pascal[0].lower() + pascal[1:]
        k = ARKIT_NAMES.index(camel)
        np.testing.assert_allclose(seq.expression[:, k], shapes[:, column], atol=1e-7)
    # head -> root, left eye -> eye_L, right eye -> eye_R; yaw about +y, pitch +x, roll +z
    for joint, cols in ((ROOT, slice(0, 3)), (EYE_L, slice(3, 6)), (EYE_R, slice(6, 9))):
        expected = Rotation.from_euler("YXZ", angles[:, cols]).as_rotvec()
        np.testing.assert_allclose(seq.pose[:, joint], expected, atol=1e-6)
    assert not seq.pose[:, [NECK, JAW]].any() and not seq.translation.any()


def test_live_link_face_sign_convention(tmp_path):
    path = tmp_path / "take.csv"
    _write_llf(path, rows=3, rate=60, angle_scale=0.0)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("HeadYaw")] = "0.5"
    path.write_text("\n".join([lines[0], ",".join(row)]) + "\n")
    seq = load_sequence(path)
    # positive yaw turns the face (+z) toward the subject's left (+x)
    face = Rotation.from_rotvec(seq.pose[0, ROOT]).apply([0.0, 0.0, 1.0])
    np.testing.assert_allclose(face, [np.sin(0.5), 0.0, np.cos(0.5)], atol=1e-6)


def test_live_link_face_fps_detection(tmp_path):
    _write_llf(tmp_path / "a.csv", rows=100, rate=30)
    assert load_sequence(tmp_path / "a.csv").fps == 30.0
    _write_llf(tmp_path / "b.csv", rows=10, rate=30)  # under a second: assume the app's 60
    assert load_sequence(tmp_path / "b.csv").fps == 60.0
    assert load_sequence(tmp_path / "b.csv", fps=30).fps == 30.0


def test_live_link_face_degrees_are_detected(tmp_path):
    path = tmp_path / "deg.csv"
    _, angles = _write_llf(path, rows=5, rate=60, angle_scale=40.0)
    seq = load_sequence(path)
    expected = Rotation.from_euler("YXZ", angles[:, :3], degrees=True).as_rotvec()
    np.testing.assert_allclose(seq.pose[:, ROOT], expected, atol=1e-6)


def test_csv_errors(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SequenceError, match="empty"):
        load_sequence(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("Timecode,BlendShapeCount,EyeBlinkLeft,JawOpen\n")
    with pytest.raises(SequenceError, match="no frames"):
        load_sequence(tmp_path / "header.csv")
    (tmp_path / "bad.csv").write_text(
        "Timecode,BlendShapeCount,EyeBlinkLeft,JawOpen\n00:00:00:00.000,61,0.1,0.2\n"
        "00:00:00:01.000,61,0.1,oops\n"
    )
    with pytest.raises(SequenceError, match="line 3: column JawOpen is 'oops'"):
        load_sequence(tmp_path / "bad.csv")
    (tmp_path / "other.csv").write_text("Timecode,Foo\n00:00:00:00.000,1\n")
    with pytest.raises(SequenceError, match="no ARKit blendshape columns"):
        load_sequence(tmp_path / "other.csv")


def test_unknown_formats(tmp_path):
    (tmp_path / "notes.txt").write_text("hello, world\n")
    with pytest.raises(SequenceError, match="not a sequence format") as info:
        load_sequence(tmp_path / "notes.txt")
    assert "VHAP" in info.value.hint and str(info.value).endswith(info.value.hint)
    np.save(tmp_path / "verts.npy", np.zeros((3, 3)))
    with pytest.raises(SequenceError, match="not a sequence format"):
        load_sequence(tmp_path / "verts.npy")
    with pytest.raises(SequenceError, match="not found"):
        load_sequence(tmp_path / "missing.npz")
    with pytest.raises(SequenceError, match="positive frame rate"):
        load_sequence(tmp_path / "notes.txt", fps=0)


# ------------------------------------------------------------------------------------ resample


def test_resample_30_to_24():
    t = 31  # one second at 30 fps
    axis = np.array([0.6, 0.0, 0.8])
    angle = np.linspace(0.0, 1.2, t)
    pose = np.zeros((t, 5, 3))
    pose[:, JAW] = angle[:, None] * axis  # fixed axis, linear angle: slerp keeps it linear
    rng = np.random.default_rng(6)
    pose[:, NECK] = Rotation.random(t, random_state=7).as_rotvec()  # arbitrary rotations
    seq = Sequence(
        fps=30.0,
        expression=np.linspace(0, 1, t)[:, None] * [1.0, -2.0],
        expression_names=("jawOpen", "mouthClose"),
        pose=pose,
        translation=rng.standard_normal((t, 3)),
        release=None,
        source="test",
    )
    out = resample(seq, 24.0)
    assert out.frames == 25 and out.fps == 24.0 and out.expression_names == seq.expression_names
    for field in ("expression", "pose", "translation"):
        np.testing.assert_allclose(getattr(out, field)[0], getattr(seq, field)[0], atol=1e-6)
        np.testing.assert_allclose(getattr(out, field)[-1], getattr(seq, field)[-1], atol=1e-6)
    times = np.arange(25) / 24.0
    np.testing.assert_allclose(out.expression[:, 0], times, atol=1e-6)
    np.testing.assert_allclose(out.pose[:, JAW], (1.2 * times)[:, None] * axis, atol=1e-6)
    src = np.arange(t) / 30.0
    np.testing.assert_allclose(
        out.translation,
        np.stack([np.interp(times, src, seq.translation[:, k]) for k in range(3)], 1),
        atol=1e-6,
    )
    expected = Slerp(src, Rotation.from_rotvec(seq.pose[:, NECK]))(times)
    got = Rotation.from_rotvec(out.pose[:, NECK])
    assert np.max((got * expected.inv()).magnitude()) < 1e-5
    single = resample(
        Sequence(30.0, seq.expression[:1], (), pose[:1], np.zeros((1, 3)), None, "x"), 24
    )
    assert single.frames == 1


# ---------------------------------------------------------------------------------------- demo


def test_demo_sequence_with_arkit_names():
    seq = demo_sequence(ARKIT_NAMES, fps=30.0, seconds=6.0)
    assert seq.frames == 180 and seq.expression.shape == (180, 52) and seq.fps == 30.0
    assert seq.source == "PanoRig demo" and seq.release is None
    w = {n: seq.expression[:, k] for k, n in enumerate(ARKIT_NAMES)}
    blink = w["eyeBlinkLeft"]
    assert blink.max() > 0.8 and np.array_equal(blink, w["eyeBlinkRight"])
    closed = blink > 0.5
    assert 2 <= np.count_nonzero(closed[1:] & ~closed[:-1]) <= 3  # a blink every 2-4 s
    jaw = seq.pose[:, JAW]
    assert 0.15 < jaw[:, 0].max() <= 0.25 and jaw[:, 0].min() >= 0 and not jaw[:, 1:].any()
    assert np.corrcoef(jaw[:, 0], w["jawOpen"])[0, 1] > 0.99
    smile = w["mouthSmileLeft"]
    assert smile[90] > 0.6 and smile[:30].max() == 0 and smile[-30:].max() == 0
    assert np.abs(seq.pose[:, NECK, 1]).max() > 0.1  # head turns
    assert np.abs(seq.pose[:, EYE_L]).max() > 0.05 and np.array_equal(
        seq.pose[:, EYE_L], seq.pose[:, EYE_R]
    )
    assert not w["eyeLookInLeft"].any()  # gaze lives in the eye joints, not twice in shapes
    assert not seq.pose[:, ROOT].any() and not seq.translation.any()
    again = demo_sequence(ARKIT_NAMES, fps=30.0, seconds=6.0)
    np.testing.assert_array_equal(seq.pose, again.pose)  # deterministic
    np.testing.assert_array_equal(seq.expression, again.expression)


def test_demo_sequence_is_smooth():
    # Bounded steps at 30 fps, and steps shrinking with the frame rate: no jumps anywhere.
    for fps, max_expr, max_pose in ((30.0, 0.6, 0.2), (240.0, 0.08, 0.03)):
        seq = demo_sequence(ARKIT_NAMES, fps=fps)
        assert np.abs(np.diff(seq.expression, axis=0)).max() < max_expr
        assert np.abs(np.diff(seq.pose, axis=0)).max() < max_pose


def test_demo_sequence_without_names_moves_joints_only():
    seq = demo_sequence((), fps=24.0, seconds=2.0)
    assert seq.frames == 48 and seq.expression.shape == (48, 0) and seq.expression_names == ()
    assert seq.pose[:, JAW, 0].max() > 0.1
    partial = demo_sequence(("custom", "eyeBlinkLeft"), fps=24.0, seconds=4.0)
    assert not partial.expression[:, 0].any() and partial.expression[:, 1].max() > 0.5


def test_sequence_validation_and_error_text():
    with pytest.raises(SequenceError, match=r"pose must be \[T, 5, 3\]"):
        Sequence(30.0, np.zeros((2, 1)), (), np.zeros((2, 4, 3)), np.zeros((2, 3)), None, "x")
    with pytest.raises(SequenceError, match="name every expression column"):
        Sequence(30.0, np.zeros((2, 2)), ("a",), np.zeros((2, 5, 3)), np.zeros((2, 3)), None, "x")
    error = SequenceError("Something broke.", "Do this.")
    assert str(error) == "Something broke. Do this." and error.hint == "Do this."
