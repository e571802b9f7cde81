"""The add-on's panel offers exactly what the backend accepts: bounds from the one schema."""

from __future__ import annotations

import pytest

from backend.common import settings as schema

from .test_blender_addon import run_blender_script


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return run_blender_script("addon_settings.py", [], tmp_path_factory.mktemp("blender"))


def _panel_fields(which="both"):
    from blender_addon.properties import PANEL_SETTINGS, PHOTO_SETTINGS

    groups = {"head": PANEL_SETTINGS, "photo": PHOTO_SETTINGS}
    groups["both"] = {**PANEL_SETTINGS, **PHOTO_SETTINGS}
    for group, names in groups[which].items():
        for info in schema.fields_of(group):
            if info.name in names:
                yield info


def test_panel_bounds_defaults_and_help_equal_the_schema(report):
    props = report["properties"]
    for info in _panel_fields():
        prop, spec = props[info.name], info.spec
        assert prop["name"] == spec.label and prop["description"] == spec.help, info.name
        if spec.choices is not None:
            assert prop["items"] == [str(c) for c in spec.choices]
            assert prop["default"] == str(info.default)
            continue
        assert (prop["min"], prop["max"]) == pytest.approx((spec.min, spec.max)), info.name
        expected = spec.max if info.default is None else info.default
        assert prop["default"] == pytest.approx(expected), info.name
    # Texture sizes the backend would refuse (1-255) are not offered at all.
    assert props["texture"]["items"][:2] == ["0", "256"]
    # The photo settings are covered too.
    assert {"steps", "tune_steps", "fit_resolution"} <= {info.name for info in _panel_fields()}
    assert props["photos"]["type"] == "COLLECTION"


def test_panel_defaults_are_the_request_defaults(report):
    defaults = {info.name: info.default for info in _panel_fields("head")}
    assert report["defaults"] == defaults
    # Invert and align send every inversion setting: the panel's, and the schema's defaults
    # for the rest (face, aligned, yaw, pitch).
    assert report["photo_defaults"] == schema.as_dict(schema.InversionSettings())
    # The fit's render size is the generator's own until the artist unticks "Auto".
    assert report["photo_defaults"]["fit_resolution"] is None and report["photo_fit_32"] == 32


def test_nan_in_a_field_is_refused_with_its_label(report):
    assert "Truncation = nan is not a finite number" in report["psi_nan"]
    assert "Iso level = nan" in report["level_nan"]
