"""The settings schema: one definition of every user setting, checked before any work."""

from __future__ import annotations

import math

import pytest

from backend.cameras import FOCAL
from backend.common import settings as schema
from backend.common.errors import PanoRigError
from backend.common.settings import (
    HeadSettings,
    MeshSettings,
    SettingsError,
    TextureSettings,
    ViewSettings,
    split,
    validate,
)
from backend.geometry import PANOHEAD_LEVEL
from backend.geometry.density_grid import PANOHEAD_BORDER
from backend.texture import DEFAULT_VIEWS

GROUPS = (
    schema.HeadSettings,
    schema.MeshSettings,
    schema.TextureSettings,
    schema.ViewSettings,
    schema.RigSettings,
    schema.InversionSettings,
)


def test_defaults_are_the_library_defaults():
    mesh, view = MeshSettings(), ViewSettings()
    assert mesh.level == PANOHEAD_LEVEL and mesh.border == PANOHEAD_BORDER
    assert view.focal == FOCAL
    assert schema.TEXTURE_VIEWS == len(DEFAULT_VIEWS)


@pytest.mark.parametrize("group", GROUPS)
def test_every_setting_has_help_and_a_valid_default(group):
    for info in schema.fields_of(group):
        assert info.spec.label and info.spec.help.strip(), info.name
    group()  # the defaults pass their own checks


@pytest.mark.parametrize(
    ("group", "values", "words"),
    [
        (HeadSettings, {"psi": math.nan}, ["psi = nan", "not a finite number", "0 to 2"]),
        (HeadSettings, {"psi": math.inf}, ["not a finite number"]),
        (HeadSettings, {"seed": -1}, ["seed = -1", "out of range", "0 to 2,147,483,647"]),
        (HeadSettings, {"seed": 1.5}, ["wrong type", "whole number"]),
        (HeadSettings, {"seed": True}, ["wrong type"]),
        (MeshSettings, {"resolution": 0}, ["resolution = 0", "32 to 1,024"]),
        (MeshSettings, {"resolution": 7}, ["resolution = 7"]),
        (MeshSettings, {"faces": 3}, ["faces = 3", "1,000"]),
        (MeshSettings, {"smooth": -1}, ["smooth = -1"]),
        (MeshSettings, {"border": -1.0}, ["border = -1"]),
        (MeshSettings, {"border": 0.6}, ["border = 0.6", "0 to 0.45"]),
        (MeshSettings, {"neck_y": 5.0}, ["neck_y = 5"]),
        (MeshSettings, {"level": math.nan}, ["level = nan"]),
        (TextureSettings, {"texture": 100}, ["texture = 100", "one of 0, 256, 512"]),
        (TextureSettings, {"views": 17}, ["views = 17", "0 to 16"]),
        (ViewSettings, {"yaw": [0.0, math.nan]}, ["yaw = nan"]),
        (ViewSettings, {"yaw": []}, ["is empty"]),
        (ViewSettings, {"focal": 0.0}, ["focal = 0"]),
        (ViewSettings, {"noise_mode": "loud"}, ["noise_mode = 'loud'", "const, random, none"]),
        (schema.RigSettings, {"model": " "}, ["is empty"]),
    ],
)
def test_bad_values_name_the_setting_the_value_and_the_range(group, values, words):
    with pytest.raises(SettingsError) as info:
        validate(group, values)
    text = str(info.value)
    for word in words:
        assert word in text, text
    assert "default" in info.value.hint
    assert info.value.name == next(iter(values))
    assert isinstance(info.value, PanoRigError) and info.value.code == "bad_parameter"


def test_constructing_a_group_checks_it_too():
    with pytest.raises(SettingsError, match="resolution = 0"):
        MeshSettings(resolution=0)


def test_neck_cut_must_lie_inside_the_searched_box():
    assert MeshSettings(neck_y=-0.25).neck_y == -0.25
    with pytest.raises(SettingsError, match="outside the part of the box"):
        MeshSettings(border=0.4, neck_y=0.2)
    with pytest.raises(SettingsError, match="--neck-y = 0.2"):
        validate(MeshSettings, {"border": 0.4, "neck_y": 0.2}, lambda n: "--" + n.replace("_", "-"))


def test_integers_are_accepted_for_numbers_and_lists_become_tuples():
    head = validate(HeadSettings, {"psi": 1})
    assert head.psi == 1.0 and isinstance(head.psi, float)
    assert validate(ViewSettings, {"yaw": [0, 90]}).yaw == (0.0, 90.0)


def test_unknown_settings_are_refused_with_the_known_ones():
    with pytest.raises(SettingsError, match="unknown setting colour") as info:
        split((HeadSettings, MeshSettings), {"seed": 3, "colour": "red"})
    assert "resolution" in info.value.hint


def test_split_validates_each_group():
    head, mesh = split((HeadSettings, MeshSettings), {"seed": 3, "faces": 5000})
    assert head.seed == 3 and mesh.faces == 5000 and mesh.resolution == 256
    with pytest.raises(SettingsError, match="faces = 10"):
        split((HeadSettings, MeshSettings), {"faces": 10})


def test_texture_views_adapt_to_super_resolution():
    auto = TextureSettings()
    assert auto.views_for(has_superresolution=True) == 16
    assert auto.views_for(has_superresolution=False) == 0
    assert TextureSettings(views=4).views_for(has_superresolution=False) == 4


def test_inversion_defaults_are_the_fit_schedule():
    from backend.inversion.optimize import PANORIG

    settings = schema.InversionSettings()
    assert (settings.steps, settings.tune_steps) == (PANORIG.steps, PANORIG.tune_steps)
