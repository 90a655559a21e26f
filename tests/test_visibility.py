"""Is the searched axis visible at the training size (sweep.visibility)? The shape descriptor on
drawn shapes, the measured VisualAtom frequency axis at 16 and 64 px, and the study-level rows."""

from __future__ import annotations

import numpy as np
import pytest

from sweep.visibility import (
    VISIBLE,
    angular_spectra,
    axis_ends,
    axis_visibility,
    study_visibility,
    visibility_warnings,
)


def _star(lobes: int, size: int = 96, amp: float = 0.25) -> np.ndarray:
    """A filled star: radius 1 + amp*cos(lobes*theta) of a third of the image."""
    yy, xx = np.indices((size, size)) - (size - 1) / 2
    theta, rad = np.arctan2(yy, xx), np.hypot(yy, xx)
    return ((rad <= size / 3 * (1 + amp * np.cos(lobes * theta))) * 255).astype(np.uint8)


def test_descriptor_finds_the_lobes_of_a_star_wherever_it_is():
    for lobes in (3, 5, 8):
        d = angular_spectra(_star(lobes)[None])[0]
        assert np.argmax(d) + 1 == lobes
        moved = np.roll(np.roll(_star(lobes), 7, axis=0), -5, axis=1)
        assert np.argmax(angular_spectra(moved[None])[0]) + 1 == lobes
    assert not angular_spectra(np.zeros((1, 8, 8), np.uint8)).any()  # no ink: zeros


def test_visualatom_frequency_band_is_invisible_at_16_px_and_visible_at_64():
    ends = axis_ends(
        {
            "name": "freq",
            "type": "int_range",
            "low": 0,
            "high": 20,
            "min_width": 1,
            "targets": ["freq1", "freq2"],
        }
    )
    assert ends == ({"freq1": [0, 1], "freq2": [0, 1]}, {"freq1": [19, 20], "freq2": [19, 20]})
    small = axis_visibility("visualatom", {}, *ends, 16)
    large = axis_visibility("visualatom", {}, *ends, 64)
    assert small["ratio"] < VISIBLE < large["ratio"]
    assert small == axis_visibility("visualatom", {}, *ends, 16)  # seeded: the same figures


def test_ends_of_numbers_and_no_ends_for_categorical_or_recipe_axes():
    assert axis_ends({"name": "noise", "type": "float", "low": 0.0, "high": 4.0}) == (
        {"noise": 0.0},
        {"noise": 4.0},
    )
    assert axis_ends({"name": "g", "type": "categorical", "choices": ["a", "b"]}) is None
    assert (
        axis_ends(
            {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-2, "targets": ["recipe.lr"]}
        )
        is None
    )


def _config(search, size=16, generator="visualatom"):
    return {
        "generator": {"name": generator, "params": {}},
        "search": search,
        "proxy": {"task": "vit", "resolved": {"img_size": size}},
    }


def test_study_rows_warn_for_an_invisible_axis_and_say_from_which_size():
    rows = study_visibility(
        _config(
            [
                {
                    "name": "freq",
                    "type": "int_range",
                    "low": 0,
                    "high": 20,
                    "min_width": 1,
                    "targets": ["freq1", "freq2"],
                }
            ]
        )
    )
    (row,) = rows
    assert row["visible"] is False and row["visible_from"] == 32
    (warning,) = visibility_warnings(rows)
    assert "freq is barely visible at the training size 16 px" in warning
    assert "visible from 32 px" in warning
    # A task that trains on no images (the analytic task) measures nothing.
    analytic = _config(
        rows
        and [
            {
                "name": "freq",
                "type": "int_range",
                "low": 0,
                "high": 20,
                "min_width": 1,
                "targets": ["freq1", "freq2"],
            }
        ]
    )
    analytic["proxy"]["task"] = "analytic"
    assert study_visibility(analytic) == []


def test_an_end_the_generator_cannot_draw_is_reported_not_raised():
    rows = study_visibility(
        _config(
            [
                {
                    "name": "radius",
                    "type": "float_range",
                    "low": -5.0,
                    "high": 60.0,
                    "min_width": 1.0,
                }
            ]
        )
    )
    assert rows[0]["visible"] is None and "radius" in rows[0]["error"]
    assert visibility_warnings(rows) == []


@pytest.mark.parametrize("size", [16])
def test_visible_axis_gives_no_warning(size):
    rows = study_visibility(
        _config(
            [{"name": "orbits", "type": "int_range", "low": 1, "high": 200, "min_width": 0}], size
        )
    )
    assert rows[0]["visible"] is True and visibility_warnings(rows) == []


def test_the_answer_opens_with_the_stored_visibility_warning_and_its_next_step():
    import optuna

    from sweep import record
    from sweep.answer import answer_of_study

    study = optuna.create_study(study_name="vis")
    cfg = _config(
        [
            {
                "name": "freq",
                "type": "int_range",
                "low": 0,
                "high": 20,
                "min_width": 1,
                "targets": ["freq1", "freq2"],
            }
        ]
    )
    cfg["proxy"]["resolved"]["patch_size"] = 4
    study.set_user_attr(record.STUDY_CONFIG, cfg)
    study.set_user_attr(record.STUDY_VISIBILITY, study_visibility(cfg))
    answer = answer_of_study(study)
    assert answer["warnings"][0].startswith("the searched axis freq is barely visible")
    assert answer["visibility"][0]["visible_from"] == 32
    assert answer["next"][0] == (
        "train at 32 px or more, where freq is visible: --set "
        "recipe.img_size=32 --set recipe.patch_size=8 (the same 4x4 "
        "tokens)"
    )
