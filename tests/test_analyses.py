"""Analyses run end to end and reproduce what they claim; stimulus recipes build."""

import runpy
from pathlib import Path

import pytest

from neuroperception.errors import InputError
from neuroperception.stimuli.procedural import from_recipe, gratings

ROOT = Path(__file__).resolve().parent.parent


def test_gabor_tuning_analysis_recovers_built_orientations(tmp_path):
    module = runpy.run_path(str(ROOT / "analyses" / "gabor_tuning.py"))
    df = module["run"](tmp_path)
    assert (tmp_path / "tuning.png").stat().st_size > 10000
    assert (tmp_path / "tuning.csv").is_file()
    assert len(df) == 16  # 8 orientations x 2 frequencies
    assert df["orientation error (deg)"].max() <= 7.5
    assert (df["preferred frequency"] == df["frequency (cycles/image)"]).all()
    assert df["phase modulation"].max() < 0.05
    assert df["tuning bandwidth (deg, half-width at half-height)"].between(5, 60).all()


def test_shipped_recipes_build():
    demo = from_recipe(ROOT / "stimuli" / "demo_gratings.toml")
    ref = gratings(orientations=(0, 45, 90, 135), spatial_frequencies=(4, 16), size=224, aperture="gaussian",
                   radius=0.6)
    assert demo.ids == ref.ids
    assert (demo.images == ref.images).all()
    assert len(from_recipe(ROOT / "stimuli" / "orientation_tuning.toml")) == 12 * 3 * 4


def test_recipe_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[spirals]\nn = 3\n")
    with pytest.raises(InputError, match=r"\[spirals\]"):
        from_recipe(bad)
    bad.write_text("[gratings]\nwavelength = 3\n")
    with pytest.raises(InputError, match="wavelength"):
        from_recipe(bad)
    bad.write_text("[gratings\n")
    with pytest.raises(InputError, match="not valid TOML"):
        from_recipe(bad)
    with pytest.raises(InputError, match="does not exist"):
        from_recipe(tmp_path / "missing.toml")
    two = tmp_path / "two.toml"
    two.write_text("[[gratings]]\norientations=[0]\nspatial_frequencies=[4]\nsize=16\n"
                   "[[gratings]]\norientations=[0]\nspatial_frequencies=[8]\nsize=16\n"
                   "[bandpass_noise]\nn=2\nsize=16\n")
    assert len(from_recipe(two)) == 4
