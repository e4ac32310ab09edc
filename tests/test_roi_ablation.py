"""ROI ablation on the simulated brain: the ROI fed by the decoded layer is ranked first."""

import numpy as np
import pytest
import xarray as xr

from neuroperception.data import make_responses, simulate_brain
from neuroperception.decoding import roi_ablation
from neuroperception.decoding import RidgeDecoder
from neuroperception.errors import AlignmentError, InputError, ShapeError
from neuroperception.plotting import plot_roi_ablation

N = 120
IDS = [f"im{i:03d}" for i in range(N)]


@pytest.fixture(scope="module")
def brain():
    rng = np.random.default_rng(0)

    def layer(d):
        return xr.DataArray(rng.normal(size=(N, d)), dims=("stimulus", "feature"),
                            coords={"stimulus_id": ("stimulus", IDS)})

    features = {"early": layer(20), "mid": layer(20), "late": layer(20)}
    sim = simulate_brain(features, n_voxels=180, snr=1.0, n_repeats=2, rois=("V1", "V4", "IT"), sparsity=0.2,
                         random_state=0)
    assert sim.rois == {"V1": ("early",), "V4": ("mid",), "IT": ("late",)}
    return sim, features


def _decoder():
    return RidgeDecoder(alphas=np.logspace(0, 4, 5), cv=3)


def test_planted_roi_ranked_first(brain):
    sim, features = brain
    table = roi_ablation(_decoder(), sim.responses, features["late"], test=0.25, k=(1, 5))
    assert list(table.columns) == ["condition", "roi", "n_voxels", "top-1", "top-5", "identification", "drop",
                                   "identification_drop"]
    assert table["condition"].tolist() == ["all", "without", "without", "without", "only", "only", "only"]
    assert table.loc[1, "roi"] == "IT" and table.loc[4, "roi"] == "IT"  # most informative first, both blocks
    chance = table.attrs["chance"]
    assert chance == pytest.approx(1 / 30) and table.attrs["n_test"] == 30
    assert table.loc[0, "top-1"] > 10 * chance and table.loc[0, "identification"] > 0.9
    assert table.loc[1, "drop"] > 0.5 and table.loc[1, "identification_drop"] > 0.3
    only = table[table["condition"] == "only"].set_index("roi")
    assert only.loc["IT", "identification"] > 0.9
    assert only.loc["V1", "identification"] < 0.7 and only.loc["V4", "identification"] < 0.7
    counts = sim.responses["roi"].to_series().value_counts()
    for _, row in table.iloc[1:].iterrows():
        expected = counts[row["roi"]] if row["condition"] == "only" else 180 - counts[row["roi"]]
        assert row["n_voxels"] == expected
    # the same decoding of the early layer ranks V1 first
    early = roi_ablation(_decoder(), sim.responses, features["early"], test=0.25)
    assert early.loc[1, "roi"] == "V1"


def test_test_split_forms_agree_and_decoder_untouched(brain):
    sim, features = brain
    responses = sim.responses.isel(voxel=slice(0, 120))  # V1 and V4 only: faster
    dec = _decoder()
    rng = np.random.default_rng(1)
    pos = np.sort(rng.choice(N, size=20, replace=False))
    by_pos = roi_ablation(dec, responses, features["mid"], test=pos.tolist(), n_way=10, random_state=3)
    by_id = roi_ablation(dec, responses, features["mid"], test=[IDS[i] for i in pos[::-1]], n_way=10,
                         random_state=3)
    assert by_pos.equals(by_id)
    assert by_pos.attrs["chance"] == pytest.approx(0.1)
    assert not hasattr(dec, "ridge_")  # cloned for every condition
    only_v1 = roi_ablation(dec, responses, features["mid"], rois=["V1"], test=pos.tolist())
    assert only_v1["roi"].tolist() == ["all", "V1", "V1"]
    assert only_v1.loc[1, "roi"] == "V1" and only_v1.loc[1, "n_voxels"] == 60


class _MeanPredictor:
    """A decoder that is not a scikit-learn estimator: predicts the training mean (no information)."""

    def fit(self, responses, features):
        self.mean_ = np.asarray(features).mean(0)
        return self

    def predict(self, responses):
        return np.tile(self.mean_, (np.asarray(responses).shape[0], 1)) + 1e-3 * np.asarray(responses)[:, :1]


def test_any_decoder_with_fit_predict():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(40, 3))
    r = make_responses(rng.normal(size=(40, 8)), roi=["A"] * 4 + ["B"] * 4)
    with pytest.raises(AlignmentError, match="features: received .* without stimulus_id while responses carries"):
        roi_ablation(_MeanPredictor(), r, f)  # ids on one side only are never matched by position
    table = roi_ablation(_MeanPredictor(), r.drop_vars("stimulus_id"), f)
    assert table["n_voxels"].tolist() == [8, 4, 4, 4, 4]
    assert np.isfinite(table["identification"]).all()


def test_errors(brain):
    sim, features = brain
    late = features["late"]
    with pytest.raises(InputError, match="no 'roi' coordinate"):
        roi_ablation(_decoder(), np.zeros((N, 5)) + np.arange(5), late.values)
    with pytest.raises(InputError, match="rois: received \\['MT'\\]"):
        roi_ablation(_decoder(), sim.responses, late, rois=["MT"])
    with pytest.raises(InputError, match="test: received 1.5"):
        roi_ablation(_decoder(), sim.responses, late, test=1.5)
    with pytest.raises(AlignmentError, match="1 unknown ids"):
        roi_ablation(_decoder(), sim.responses, late, test=["nope", "im000"])
    with pytest.raises(AlignmentError, match="stimulus ids differ"):
        roi_ablation(_decoder(), sim.responses, late.isel(stimulus=slice(0, 100)))

    class _Bad(_MeanPredictor):
        def predict(self, responses):
            return np.zeros((2, 2))

    with pytest.raises(ShapeError, match="decoder.predict: returned shape \\(2, 2\\)"):
        roi_ablation(_Bad(), sim.responses, late)


def test_plot_roi_ablation_draws_drop_and_alone():
    rng = np.random.default_rng(3)
    f = rng.normal(size=(40, 3))
    r = make_responses(np.hstack([f @ rng.normal(size=(3, 6)), rng.normal(size=(40, 6))]), roi=["IT"] * 6 + ["V1"] * 6)
    f = xr.DataArray(f, dims=("stimulus", "feature"), coords={"stimulus_id": r["stimulus_id"]})
    table = roi_ablation(_decoder(), r, f)
    ax = plot_roi_ablation(table).axes[0]
    heights = [float(p.get_height()) for p in ax.patches]
    without, only = table[table["condition"] == "without"], table[table["condition"] == "only"]
    assert heights == pytest.approx(without["drop"].tolist() + only["top-1"].tolist())
    with pytest.raises(InputError, match="missing columns \\['drop'\\]"):
        plot_roi_ablation(table.drop(columns="drop"))
