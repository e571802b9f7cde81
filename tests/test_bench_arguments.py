"""The benches refuse counts they cannot run with before measuring anything."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from bench.arguments import positive_int

ROOT = Path(__file__).resolve().parents[1]


def test_counts_are_whole_numbers_of_at_least_one():
    assert positive_int("3") == 3
    for text, message in (("0", "0 is too small"), ("-2", "-2 is too small"), ("x", "'x' is not")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            positive_int(text)


def test_a_bench_given_zero_runs_says_so_and_stops():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "mesh_extraction.py"), "--path-runs", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "argument --path-runs: 0 is too small: give 1 or more" in result.stderr
