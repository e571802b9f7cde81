"""Every setting a user gives PanoRig, defined once: default, bounds, unit, label and help.

Each group is a frozen dataclass whose fields carry a ``Spec`` in their metadata (as nerfstudio
keeps its configs). The command line builds its options from these classes
(``backend/cli/options.py``), the service validates requests with ``validate``, and the add-on
takes its properties' defaults and limits from them (a test proves they are equal). Building a
group checks every value, NaN and infinities included, before any work starts; a bad value
raises ``SettingsError`` naming the setting, the value, what is allowed and the default.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import PanoRigError

T = TypeVar("T", bound="Settings")

# The generator's world box is [-0.5, 0.5]^3 (PanoHead's and EG3D's box_warp 1).
HALF_BOX = 0.5
# Super-resolved views baked into a texture by default, when the generator has super-resolution.
TEXTURE_VIEWS = 16
TEXTURE_SIZES = (0, 256, 512, 1024, 2048, 4096, 8192)
# A head that rigging can fit: fewer faces than this is a fragment, not a head.
MIN_RIG_FACES = 1000


@dataclass(frozen=True)
class Spec:
    """What the user is told about a setting, and the values it accepts."""

    label: str  # short name for a panel
    help: str  # one sentence
    min: float | None = None
    max: float | None = None
    unit: str = ""
    choices: tuple[Any, ...] | None = None
    choice_labels: tuple[str, ...] | None = None  # how a panel shows each choice
    none: str = "none"  # what an unset value (None) means, for optional settings

    def allowed(self, kind: type) -> str:
        """What the setting accepts, in words."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        what = {int: "a whole number", float: "a finite number", bool: "true or false"}.get(
            kind, "text"
        )
        unit = f" {self.unit}" if self.unit else ""
        if self.min is not None and self.max is not None:
            return f"{what} from {_num(self.min)} to {_num(self.max)}{unit}"
        if self.min is not None:
            return f"{what} of at least {_num(self.min)}{unit}"
        if self.max is not None:
            return f"{what} of at most {_num(self.max)}{unit}"
        return what


def setting(default: Any, label: str, help: str, **spec: Any) -> Any:  # noqa: A002
    """A dataclass field with its ``Spec``."""
    return field(default=default, metadata={"spec": Spec(label, help, **spec)})


class SettingsError(PanoRigError):
    """A setting's value is not allowed."""

    code = "bad_parameter"

    def __init__(self, name: str, message: str, hint: str) -> None:
        super().__init__(message, hint)
        self.name = name


@dataclass(frozen=True)
class FieldInfo:
    name: str
    kind: type  # int, float, bool or str (the element type for tuples)
    optional: bool  # None is allowed (and means "automatic" or "none")
    sequence: bool  # a tuple of values, each checked
    default: Any
    spec: Spec


class Settings:
    """Base of the setting groups: checks every field when an instance is built."""

    def __post_init__(self) -> None:
        for info in fields_of(type(self)):
            object.__setattr__(self, info.name, _check(info, getattr(self, info.name), str))
        self.check()

    def check(self) -> None:
        """Checks across fields, for the groups that need them."""


def fields_of(cls: type) -> tuple[FieldInfo, ...]:
    """The settings of a group, with their types resolved."""
    hints = typing.get_type_hints(cls)
    infos = []
    for f in dataclasses.fields(cls):
        kind, optional, sequence = _resolve(hints[f.name])
        infos.append(FieldInfo(f.name, kind, optional, sequence, f.default, f.metadata["spec"]))
    return tuple(infos)


def spec_of(cls: type, name: str) -> Spec:
    return next(f.spec for f in fields_of(cls) if f.name == name)


def validate(cls: type[T], values: Mapping[str, Any], name: Callable[[str], str] = str) -> T:
    """Build ``cls`` from user values (missing ones take their defaults), refusing unknown keys
    and bad values; ``name`` renders a setting's name the way the user typed it (e.g. as a
    command-line flag) in the error."""
    infos = {f.name: f for f in fields_of(cls)}
    unknown = sorted(set(values) - set(infos))
    if unknown:
        raise SettingsError(
            unknown[0],
            f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(name, unknown))}.",
            f"Known settings: {', '.join(map(name, infos))}.",
        )
    checked = {k: _check(infos[k], v, name) for k, v in values.items()}
    try:
        return cls(**checked)
    except SettingsError as exc:  # a check across fields: say it with the user's names
        if name is str:
            raise
        raise SettingsError(exc.name, _rename(exc.message, infos, name), exc.hint) from None


def split(
    groups: tuple[type, ...], values: Mapping[str, Any], name: Callable[[str], str] = str
) -> tuple[Any, ...]:
    """Validate one flat mapping (a service request's parameters) against several groups."""
    known = {f.name: g for g in groups for f in fields_of(g)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SettingsError(
            unknown[0],
            f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(name, unknown))}.",
            f"Known settings: {', '.join(map(name, known))}.",
        )
    return tuple(
        validate(g, {k: v for k, v in values.items() if known[k] is g}, name) for g in groups
    )


def as_dict(settings: Settings) -> dict[str, Any]:
    """JSON-ready values (tuples become lists)."""
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(settings).items()
    }


# --- the groups ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeadSettings(Settings):
    """Which head: a seed's latent and how far it is pulled toward the average head."""

    seed: int = setting(0, "Seed", "Which head: every seed is another person", min=0, max=2**31 - 1)
    psi: float = setting(
        0.7,
        "Truncation",
        "Truncation psi: lower gives more average, cleaner heads; 1 gives full variety",
        min=0.0,
        max=2.0,
    )


@dataclass(frozen=True)
class MeshSettings(Settings):
    """How the head's surface is extracted and cleaned."""

    resolution: int = setting(
        256,
        "Mesh resolution",
        "Lattice cells across the head's box (256 on a CPU, up to 1024 on a GPU)",
        min=32,
        max=1024,
        unit="cells",
    )
    faces: int = setting(
        60000,
        "Faces",
        "Face count of the mesh after decimation (at most this many; dropping degenerate faces "
        "can leave a few fewer)",
        min=MIN_RIG_FACES,
        max=2_000_000,
    )
    level: float = setting(
        10.0,
        "Iso level",
        "Raw density of the surface (PanoHead's meshes use 10)",
        min=-1e4,
        max=1e4,
    )
    border: float = setting(
        30 / 256,
        "Border trim",
        "Fraction of the box trimmed on every face (PanoHead's default 30/256)",
        min=0.0,
        max=0.45,
    )
    neck_y: float | None = setting(
        None,
        "Neck cut",
        "Flat neck cut at this height in the generator's box (none: PanoHead's open neck)",
        min=-HALF_BOX,
        max=HALF_BOX,
        unit="box units",
        none="no cut",
    )
    smooth: int = setting(
        3, "Smoothing", "Taubin smoothing iterations (0 = none)", min=0, max=100, unit="iterations"
    )

    def check(self) -> None:
        top = HALF_BOX - self.border
        if self.neck_y is not None and not -top < self.neck_y < top:
            raise SettingsError(
                "neck_y",
                f"neck_y = {self.neck_y:g} lies outside the part of the box that is searched "
                f"(heights {-top:g} to {top:g} with border {self.border:g}), so it would "
                "cut nothing or everything.",
                "Put the neck cut between those heights (about -0.25 suits PanoHead's heads), "
                "or lower the border.",
            )


@dataclass(frozen=True)
class TextureSettings(Settings):
    """How the head's texture is baked."""

    texture: int = setting(
        2048,
        "Texture size",
        "Texture size in pixels (0 = no texture, vertex normals only)",
        choices=TEXTURE_SIZES,
        choice_labels=tuple("None" if s == 0 else f"{s} px" for s in TEXTURE_SIZES),
    )
    views: int | None = setting(
        None,
        "Texture views",
        f"Super-resolved renders projected into the texture (automatic: {TEXTURE_VIEWS} when "
        "the generator has super-resolution, 0 when it has none; 0 = its colour map only)",
        min=0,
        max=TEXTURE_VIEWS,
        unit="views",
        none="automatic",
    )

    def views_for(self, has_superresolution: bool) -> int:
        """Views to project: automatic means none for a generator without super-resolution,
        whose renders would add nothing to its own colour map."""
        if self.views is not None:
            return self.views
        return TEXTURE_VIEWS if has_superresolution else 0


@dataclass(frozen=True)
class ViewSettings(Settings):
    """Cameras and renderer options of ``sample``."""

    yaw: tuple[float, ...] = setting(
        (0.0,),
        "Yaw",
        "Camera yaw in degrees: 0 = frontal, 90 = the subject's left, 180 = the back",
        min=-360.0,
        max=360.0,
        unit="degrees",
    )
    pitch: float = setting(
        0.0, "Pitch", "Camera elevation in degrees", min=-85.0, max=85.0, unit="degrees"
    )
    focal: float = setting(
        4.2647,
        "Focal length",
        "Normalised focal length (4.2647 = PanoHead's 13.4 degree field of view)",
        min=0.5,
        max=50.0,
    )
    noise_mode: str = setting(
        "const", "Noise", "StyleGAN noise inputs", choices=("const", "random", "none")
    )
    stochastic: bool = setting(
        False,
        "Stochastic",
        "Jitter ray samples like PanoHead's training renderer (default: deterministic)",
    )


@dataclass(frozen=True)
class InversionSettings(Settings):
    """How photos are inverted into the generator (``invert``)."""

    steps: int = setting(
        400,
        "Fit steps",
        "Optimisation steps of the shared latent (W+) and the photos' cameras",
        min=0,
        max=5000,
        unit="steps",
    )
    tune_steps: int = setting(
        100,
        "Tuning steps",
        "Steps tuning the generator's weights around the fitted latent (0 = no tuning)",
        min=0,
        max=5000,
        unit="steps",
    )
    fit_resolution: int | None = setting(
        None,
        "Fit render size",
        "Render size while fitting, in pixels (none = the generator's own; 64 or 32 makes a "
        "fit on a CPU several times faster, at some loss of detail in the tuned generator)",
        min=16,
        max=512,
        unit="px",
        none="the generator's own",
    )
    face: int | None = setting(
        None,
        "Face",
        "Which face to use when a photo shows several (0 = the largest; none = the largest)",
        min=0,
        max=15,
        none="the largest",
    )
    aligned: bool = setting(
        False,
        "Already aligned",
        "The photos are already framed like the generator's renders: skip face alignment and "
        "use the given yaw and pitch",
    )
    yaw: float = setting(
        0.0,
        "Yaw",
        "With aligned photos: the camera's yaw in degrees (0 = frontal, 90 = subject's left)",
        min=-180.0,
        max=180.0,
        unit="degrees",
    )
    pitch: float = setting(
        0.0,
        "Pitch",
        "With aligned photos: the camera's elevation in degrees",
        min=-85.0,
        max=85.0,
        unit="degrees",
    )


@dataclass(frozen=True)
class RigSettings(Settings):
    """What a head is bound to."""

    model: str = setting(
        "template",
        "Rig model",
        "'template' (the open MakeHuman head) or the path of your FLAME .pkl/.npz",
    )


# --- checking one value ---------------------------------------------------------------------


def _check(info: FieldInfo, value: Any, name: Callable[[str], str]) -> Any:
    if value is None and info.optional:
        return None
    if info.sequence:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise _bad(info, value, name, "is not a list")
        if not value:
            raise _bad(info, value, name, "is empty")
        return tuple(_check_one(info, v, name) for v in value)
    return _check_one(info, value, name)


def _check_one(info: FieldInfo, value: Any, name: Callable[[str], str]) -> Any:
    kind, spec = info.kind, info.spec
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _bad(info, value, name, "has the wrong type")
    if kind is float and not math.isfinite(value):
        raise _bad(info, value, name, "is not a finite number")
    if kind is str and not value.strip():
        raise _bad(info, value, name, "is empty")
    if spec.choices is not None and value not in spec.choices:
        raise _bad(info, value, name, "is not one of the choices")
    too_low = spec.min is not None and value < spec.min
    if too_low or (spec.max is not None and value > spec.max):
        raise _bad(info, value, name, "is out of range")
    return value


def _bad(info: FieldInfo, value: Any, name: Callable[[str], str], problem: str) -> SettingsError:
    shown = repr(value) if isinstance(value, str) else str(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    default = info.spec.none if info.default is None else info.default
    if isinstance(default, tuple):
        default = ",".join(str(v) for v in default)
    allowed = info.spec.allowed(info.kind)
    if info.sequence:
        allowed = f"a comma-separated list, each value {allowed}"
    return SettingsError(
        info.name,
        f"{name(info.name)} = {shown} {problem}: {info.spec.label.lower()} must be {allowed}.",
        f"Use an allowed value (the default is {default}).",
    )


def _resolve(hint: Any) -> tuple[type, bool, bool]:
    """(element type, optional, sequence) of a field's annotation."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = len(args) < len(typing.get_args(hint))
    if optional:
        hint = args[0]
    if typing.get_origin(hint) is tuple:
        return typing.get_args(hint)[0], optional, True
    return hint, optional, False


def _rename(message: str, infos: Mapping[str, FieldInfo], name: Callable[[str], str]) -> str:
    for key in infos:
        message = message.replace(f"{key} = ", f"{name(key)} = ")
    return message


def _num(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"
