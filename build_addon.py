"""Build the PanoRig Blender extension: one zip per platform in dist/.

    python build_addon.py [--platforms linux-x64,windows-x64,macos-arm64,macos-x64] [--out dist]

Stages blender_addon/ together with backend/common/ (the Blender-free package the backend and
the add-on share: protocol, errors, settings, rotations, rig arrays, sequence readers), adds the
pyzmq wheels for each platform (cp311 for Blender 4.2-5.0, cp312-abi3 for Blender 5.1+ on Python
3.13), then builds and validates with Blender's own extension tool, which ships inside the bpy wheel
and runs under plain Python.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PYZMQ = "27.3.0"
# Blender platform -> pip platform tags (first match wins) of the pyzmq wheels.
PLATFORM_TAGS = {
    "linux-x64": ["manylinux_2_28_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_11_0_arm64"],
    "macos-x64": ["macosx_10_15_x86_64"],
}
PYTHONS = ("3.11", "3.12")  # the cp312 wheel is abi3, so it also serves Python 3.13


def blender_ext_tool() -> Path:
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise SystemExit("bpy is not installed: run 'make setup' (it provides Blender's tool)")
    found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise SystemExit("Blender's extension tool was not found inside the bpy package")
    return found[-1]


def download_wheels(platforms: list[str], cache: Path) -> list[Path]:
    cache.mkdir(parents=True, exist_ok=True)
    wheels: set[Path] = set()
    for platform in platforms:
        for python in PYTHONS:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--only-binary=:all:",
                "--no-deps",
                "--python-version",
                python,
                "--dest",
                str(cache),
                f"pyzmq=={PYZMQ}",
            ]
            for tag in PLATFORM_TAGS[platform]:
                cmd += ["--platform", tag]
            subprocess.run(cmd, check=True)
            # pip skips files already in the cache, so find the wheel by its tags.
            wheel = _matching_wheel(cache, platform, python)
            if wheel is None:
                raise SystemExit(f"no pyzmq {PYZMQ} wheel for {platform} / Python {python}")
            wheels.add(wheel)
    return sorted(wheels)


def _matching_wheel(cache: Path, platform: str, python: str) -> Path | None:
    abi = "cp311-cp311" if python == "3.11" else "cp312-abi3"
    os_part = {
        "linux-x64": "manylinux",
        "windows-x64": "win_amd64",
        "macos-arm64": "macosx",
        "macos-x64": "macosx",
    }[platform]
    for wheel in sorted(cache.glob(f"pyzmq-{PYZMQ}-{abi}-*.whl")):
        if os_part in wheel.name:
            return wheel
    return None


def stage(dest: Path, wheels: list[Path]) -> Path:
    """Copy the add-on, the shared package and the wheels into ``dest``; returns the source dir."""
    src = dest / "panorig"
    shutil.copytree(ROOT / "blender_addon", src, ignore=shutil.ignore_patterns("__pycache__"))
    # The Blender-free package shared with the backend: one source, vendored (see shared.py).
    shutil.copytree(
        ROOT / "backend" / "common", src / "common", ignore=shutil.ignore_patterns("__pycache__")
    )
    (src / "wheels").mkdir(exist_ok=True)
    for wheel in wheels:
        shutil.copy(wheel, src / "wheels" / wheel.name)
    manifest = src / "blender_manifest.toml"
    listing = ",\n".join(f'  "./wheels/{w.name}"' for w in wheels)
    text = manifest.read_text()
    text = re.sub(r"(?m)^# build_addon.py fills in.*$", f"wheels = [\n{listing},\n]", text)
    manifest.write_text(text)
    return src


def build(platforms: list[str], out: Path) -> list[Path]:
    tool = blender_ext_tool()
    wheels = download_wheels(platforms, out / "wheels-cache")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = stage(Path(tmp), wheels)
        manifest = src / "blender_manifest.toml"
        text = manifest.read_text()
        manifest.write_text(
            re.sub(r"(?m)^platforms = .*$", f"platforms = {platforms!r}".replace("'", '"'), text)
        )
        subprocess.run(
            [
                sys.executable,
                str(tool),
                "build",
                "--source-dir",
                str(src),
                "--output-dir",
                str(out),
                "--split-platforms",
            ],
            check=True,
        )
    zips = sorted(out.glob("panorig-*.zip"))
    for archive in zips:
        subprocess.run([sys.executable, str(tool), "validate", str(archive)], check=True)
    return zips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--platforms", default=",".join(PLATFORM_TAGS))
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    platforms = [p.strip() for p in args.platforms.split(",") if p.strip()]
    unknown = set(platforms) - set(PLATFORM_TAGS)
    if unknown:
        raise SystemExit(f"unknown platforms {sorted(unknown)}; known: {sorted(PLATFORM_TAGS)}")
    for archive in build(platforms, args.out):
        print(f"built {archive} ({archive.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
