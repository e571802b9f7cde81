"""The pose-corrective table: driver strings, numpy evaluation and scipy's R - I agree."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from backend.common import correctives

FLAME_JOINTS = ("root", "neck", "jaw", "eye_L", "eye_R")


def _unit_quaternions(n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """(w, x, y, z) of random rotations and of small ones, and their R - I from scipy."""
    rotations = Rotation.concatenate(
        [Rotation.random(n, random_state=0), Rotation.from_rotvec([[1e-7, 0, 0], [0, 0, 0]])]
    )
    return rotations.as_quat()[:, [3, 0, 1, 2]], rotations.as_matrix() - np.eye(3)


def test_driver_strings_numpy_and_scipy_agree():
    q, expected = _unit_quaternions()
    for row in range(3):
        for col in range(3):
            polynomial = correctives.R_MINUS_I[row][col]
            text = correctives.driver_expression(polynomial)
            assert set(text) <= set("wxyz+-*()2"), text  # a Blender "simple expression"
            for k, (w, x, y, z) in enumerate(q):
                value = eval(text, {"__builtins__": {}}, {"w": w, "x": x, "y": y, "z": z})
                assert abs(value - expected[k, row, col]) < 1e-12, (text, k)
            np.testing.assert_allclose(
                correctives.evaluate(polynomial, q), expected[:, row, col], atol=1e-12
            )


def test_evaluate_keeps_leading_axes():
    q, expected = _unit_quaternions(12)
    got = correctives.evaluate(correctives.R_MINUS_I[0][2], q[:12].reshape(3, 4, 4))
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got.reshape(12), expected[:12, 0, 2], atol=1e-12)


def test_flame_order_and_names():
    entries = correctives.for_joints(FLAME_JOINTS)
    assert len(entries) == correctives.ENTRIES_PER_JOINT * (len(FLAME_JOINTS) - 1) == 36
    names = [c.name for c in entries]
    assert names[:4] == ["pose_neck_00", "pose_neck_01", "pose_neck_02", "pose_neck_10"]
    assert names[9] == "pose_jaw_00" and names[-1] == "pose_eye_R_22"
    assert not any("root" in n for n in names)  # the root's rotation drives no corrective
    assert entries[5].polynomial is correctives.R_MINUS_I[1][2]


def test_parse_reads_names_back_and_refuses_others():
    for entry in correctives.for_joints(FLAME_JOINTS):
        assert correctives.parse(entry.name) == entry
    assert correctives.parse("pose_eye_L_21") == correctives.Corrective("eye_L", 2, 1)
    for other in ("exp_000", "jawOpen", "pose_smile", "pose__01", "pose_jaw_3", "pose_jaw_013"):
        assert correctives.parse(other) is None, other
