"""``python -m backend batch`` on this machine: the demo model, four seeds, tiny settings.

One output folder goes through the batch's life: a first run with one seed made to fail, a
rerun that makes only that seed, a rerun with nothing left, and a rerun after a head's file was
deleted. Ray must not be imported without --ray.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.batch import (
    FAIL_SEEDS_ENV,
    HeadItem,
    HeadMaker,
    Store,
    make_spec,
    read_heads_file,
    read_rows,
)
from backend.cli import main
from backend.common.settings import MeshSettings, TextureSettings
from backend.sampling import seed_latent, seed_ws

from .test_cli_errors import _run

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--checkpoint", "demo", "--device", "cpu", "--resolution", "64", "--faces", "2000"]
SMALL += ["--texture", "256"]
KEYS = [f"seed_{s:06d}" for s in range(4)]


def _batch(out: Path, *extra: str) -> list[str]:
    return ["batch", *SMALL, "--seeds", "0-3", "--out", str(out), *extra]


def _latest(out: Path) -> dict:
    return {row.key: row for row in read_rows(Store(out))}  # oldest first: the last one wins


def _made(capsys) -> str:
    return next(line for line in capsys.readouterr().out.splitlines() if " heads in " in line)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """Four seeds with seed 2 failing on purpose, in a fresh interpreter that reports whether
    Ray was imported."""
    out = tmp_path_factory.mktemp("crowd")
    code = (
        "import sys; from backend.cli import main; "
        f"rc = main({_batch(out, '--workers', '2')!r}); "
        "print('RAY_IMPORTED', 'ray' in sys.modules); sys.exit(rc)"
    )
    env = dict(os.environ, **{FAIL_SEEDS_ENV: "2"}, OMP_NUM_THREADS="1")
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    return out, run


def test_a_failing_seed_is_recorded_while_the_others_finish(first_run):
    out, run = first_run
    assert run.returncode == 1, run.stdout + run.stderr  # some heads failed
    assert "RAY_IMPORTED False" in run.stdout
    rows = _latest(out)
    assert sorted(rows) == KEYS
    failed = rows.pop("seed_000002")
    assert failed.status == "failed" and FAIL_SEEDS_ENV in failed.error
    assert "seed_000002" in run.stdout and "failed" in run.stdout
    identity = json.loads((out / "batch.json").read_text())
    for key, row in rows.items():
        assert row.status == "done" and row.error == ""
        assert (out / "heads" / f"{key}.glb").is_file()
        assert (out / "heads" / f"{key}.rig.npz").is_file()
        # decimation aims at 2,000 faces; dropping degenerate ones may leave a few fewer
        assert 1980 <= row.faces <= 2000 and 0 < row.fit_residual < 0.05
        assert {"latent", "density", "rig", "export"} <= set(row.timings)
        assert row.checkpoint_hash == identity["checkpoint_hash"]
        assert row.settings_hash == identity["settings_hash"] and row.psi == 0.7
    assert not (out / "heads" / "seed_000002.glb").exists()
    assert not list(out.rglob("*.partial"))


def test_reruns_retry_failures_skip_what_is_done_and_redo_deleted_heads(first_run, capsys):
    out, _ = first_run
    # Seed 2 failed before: only it is made.
    assert main(_batch(out)) == 0
    assert "3 done before, 1 retried, 1 made" in _made(capsys)
    rows = _latest(out)
    assert [r.status for r in rows.values()] == ["done"] * 4
    assert sorted(p.name for p in (out / "heads").glob("*.glb")) == [f"{k}.glb" for k in KEYS]
    # Each run merged the manifest's parts into one file: 4 rows + seed 2's retry.
    (manifest,) = (out / "manifest").iterdir()
    assert len(read_rows(Store(out))) == 5
    # Nothing left: no new head, no new row.
    assert main(_batch(out)) == 0
    assert "4 done before, 0 retried, 0 made" in _made(capsys)
    assert list((out / "manifest").iterdir()) == [manifest]
    # One head's file deleted: only it is made again.
    kept = (out / "heads" / "seed_000000.glb").stat().st_mtime_ns
    (out / "heads" / "seed_000001.glb").unlink()
    assert main(_batch(out)) == 0
    assert "3 done before, 1 retried, 1 made" in _made(capsys)
    assert (out / "heads" / "seed_000001.glb").is_file()
    assert (out / "heads" / "seed_000000.glb").stat().st_mtime_ns == kept
    assert len(read_rows(Store(out))) == 6 and len(list((out / "manifest").iterdir())) == 1


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--seeds", "5-2"], ["--seeds", "'5-2'"]),
        (["--seeds", "abc"], ["--seeds", "'abc'"]),
        (["--seeds", "0-99999999999"], ["more than 1,000,000 values"]),
        (["--seeds", "3000000000"], ["--seeds 3000000000", "2,147,483,647"]),
        (["--seeds", "0", "--formats", "fbx"], ["--formats 'fbx'", "glb, obj, ply"]),
        (["--seeds", "0", "--workers", "0"], ["--workers 0", "1 to 256"]),
        (["--seeds", "0", "--rig", "/no/flame.pkl"], ["--rig /no/flame.pkl not found"]),
        (["--seeds", "0", "--psi", "nan"], ["--psi = nan"]),
        (["--seeds", "0", "--checkpoint", "/no/g.pkl"], ["--checkpoint /no/g.pkl not found"]),
        (["--heads", "/no/list.txt"], ["--heads /no/list.txt cannot be read"]),
        ([], ["one of the arguments --seeds --heads is required"]),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(capsys, tmp_path, argv, words):
    out = tmp_path / "crowd"
    argv = [a for a in SMALL if a not in ("--checkpoint", "demo")] + argv
    code, err = _run(capsys, "batch", "--checkpoint", "demo", *argv, "--out", str(out))
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error:"), err
    assert all(word in err for word in words), err
    assert not out.exists()


def test_unwritable_out_and_a_folder_of_other_settings_are_refused(capsys, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, err = _run(capsys, *_batch(blocker / "crowd"))
    assert code == 2 and len(err.splitlines()) == 1 and f"--out {blocker / 'crowd'}" in err, err
    # A folder made with other settings: refused with the differences, nothing made.
    out = tmp_path / "crowd"
    Store(out).write_bytes(
        "batch.json",
        json.dumps(
            {"checkpoint": "demo", "checkpoint_hash": "x", "settings": {"resolution": 128}}
        ).encode(),
    )
    code, err = _run(capsys, *_batch(out))
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "holds a batch made with other settings" in err
    assert "resolution: there 128, now 64" in err and "checkpoint: there 'demo'" in err
    assert "Give another --out" in err
    assert not (out / "heads").exists()


def test_a_second_run_in_a_busy_folder_is_refused(capsys, tmp_path):
    out = tmp_path / "crowd"
    with Store(out).running():  # another run holds the folder
        code, err = _run(capsys, *_batch(out))
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"another batch is running in {out}" in err and not (out / "heads").exists()
    with Store(out).running():  # free again once that run has ended
        pass


def test_a_heads_list_names_bad_lines(capsys, tmp_path):
    listing = tmp_path / "heads.txt"
    listing.write_text("# a crowd\n3\nalice.safetensors\n")
    code, err = _run(capsys, "batch", *SMALL, "--heads", str(listing), "--out", str(tmp_path / "o"))
    assert code == 2 and "line 3: 'alice.safetensors' is not a seed" in err, err
    listing.write_text("3\n3\n")
    code, err = _run(capsys, "batch", *SMALL, "--heads", str(listing), "--out", str(tmp_path / "o"))
    assert code == 2 and "line 2: '3' repeats seed_000003" in err, err


def test_a_heads_list_takes_seeds_head_files_and_latents(tmp_path):
    spec = make_spec(
        str(tmp_path / "o"), "demo", 0.7, MeshSettings(), TextureSettings(), None, (".glb",)
    )
    maker = HeadMaker(spec, "cpu")  # no rig: only the latents are made here
    (tmp_path / "alice.safetensors").write_bytes(b"")
    np.save(tmp_path / "z3.npy", seed_latent(3, maker.G.z_dim).numpy()[0])
    listing = tmp_path / "heads.txt"
    listing.write_text("7  # a seed\nalice.safetensors\nz3.npy\n")
    items = read_heads_file(listing)
    assert [i.key for i in items] == ["seed_000007", "head_alice", "latent_z3"]
    assert items[1].source == str(tmp_path / "alice.safetensors")
    # A z latent is mapped like a seed's; a ws latent is used as it is.
    _, ws, _ = maker._latent(items[2], None)
    assert torch.equal(ws, seed_ws(maker.G, 3, 0.7))
    np.save(tmp_path / "w.npy", ws[0].numpy())
    _, same, _ = maker._latent(HeadItem("latent_w", source=str(tmp_path / "w.npy")), None)
    assert torch.equal(same, ws)
    np.save(tmp_path / "bad.npy", np.zeros(5))
    with pytest.raises(ValueError, match=r"has shape \(5,\): give z \[8\] or ws \[10, 256\]"):
        maker._latent(HeadItem("latent_bad", source=str(tmp_path / "bad.npy")), None)
