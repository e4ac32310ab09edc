"""The command line and the demo report."""

import numpy as np
import pytest
from PIL import Image

from neuroperception.cli import main
from neuroperception.demo import correlation_rdm, run_demo
from neuroperception.features import open_features


def test_cli_features_writes_a_resumable_store(tmp_path, capsys):
    rng = np.random.default_rng(0)
    (tmp_path / "imgs" / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.jpg", "c.webp"):
        Image.fromarray(rng.integers(0, 255, (50, 60, 3), dtype=np.uint8)).save(tmp_path / "imgs" / name)
    args = ["features", "--model", "gabor", "--images", str(tmp_path / "imgs"), "--size", "48",
            "--layers", "scale0", "scale2", "--pooling", "max", "--out", str(tmp_path / "f.zarr"), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "scale0: {'stimulus': 3, 'feature': 16}" in out
    feats = open_features(tmp_path / "f.zarr")
    assert list(feats["scale2"]["stimulus_id"].values) == ["a.png", "c.webp", "sub/b.jpg"]
    assert feats["scale2"].attrs["pooling"] == "max"
    assert main(args) == 0  # a finished store is reused


def test_cli_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["features", "--model", "gabor", "--images", str(tmp_path / "missing"), "--layers", "scale0",
                 "--out", str(tmp_path / "x.zarr")]) == 2
    assert "not an existing folder" in capsys.readouterr().err
    assert main(["layers", "--model", "gabor"]) == 0
    assert "scale0.simple" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["nonsense"])


def test_correlation_rdm_matches_numpy():
    x = np.random.default_rng(0).standard_normal((7, 30))
    np.testing.assert_allclose(correlation_rdm(x), 1 - np.corrcoef(x), atol=1e-10)


def test_demo_writes_report_with_figures(tmp_path):
    index = run_demo(tmp_path / "report", quick=True)
    html = index.read_text()
    for title in ("Stimuli", "Features", "Simulated brain", "Encoding models", "Deep readouts",
                  "Decoding: which image was seen", "Decoding motion: optical flow from a simulated MT", "Several subjects",
                  "Perceptual similarity", "Triplets", "Scanpaths", "Perceptual rewards"):
        assert f"<h2>{title}</h2>" in html
    figures = sorted(p.name for p in (tmp_path / "report" / "figures").glob("*.png"))
    expected = {"pca_world_cnn.png", "pca_gabor.png", "rdm_world_cnn.png", "rdm_gabor.png", "stimuli.png",
                "brain_rois.png", "brain_noise_ceiling.png", "brain_nc_recovery.png", "brain_roi_summary.png",
                "brain_category_selectivity.png", "similarity_changes.png", "similarity_examples.png",
                "similarity_layer_rsa.png", "encoding_rois.png", "encoding_brain.png", "triplets_grid.png",
                "triplets_examples.png", "triplets_choice_model.png", "triplets_choice_network.png",
                "scanpaths_nevaclip.png", "rewards_episodes.png", "readouts_attention.png",
                "readouts_receptive_fields.png", "readouts_centres.png", "decoding_retrieval.png",
                "decoding_ablation.png", "decoding_flow.png", "subjects_adaptation.png"}
    assert expected <= set(figures), expected - set(figures)
    for name in figures:
        assert f"figures/{name}" in html
        assert (tmp_path / "report" / "figures" / name).stat().st_size > 5000
    for name in ("decoding_motion_true.gif", "decoding_motion_decoded.gif"):
        assert f"figures/{name}" in html and (tmp_path / "report" / "figures" / name).stat().st_size > 1000
    # the world models run with their shipped trained weights, and every result says so
    assert "shipped:" in html and "world_cnn.pt" in html
