"""`make demo`'s script refuses bad --seeds before it builds, starts or writes anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "demo" / "make_demo.py"


@pytest.mark.parametrize(
    ("seeds", "says"),
    [
        ("abc", "not a list of integers or ranges"),
        ("3,13x", "not a list of integers or ranges"),
        ("", "give at least one value"),
        ("-5", "--seeds -5 is out of range"),
        ("99999999999", "--seeds 99999999999 is out of range"),
    ],
)
def test_bad_seeds_are_refused_before_any_work(tmp_path, seeds, says):
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--seeds", seeds, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "--seeds" in run.stderr and says in run.stderr
    assert not out.exists()
