"""Flow decoding: flow bases, ridge decoder of flows, shuffle baseline, motion rendering and motion plots."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch
import xarray as xr
from PIL import Image
from sklearn.base import clone
from sklearn.decomposition import PCA

from neuroperception.data.responses import average_repeats
from neuroperception.data.simulated import simulate_brain
from neuroperception.decoding import (FlowBasis, FlowDecoder, flow_decoding_report, render_motion,
                                           shuffle_baseline)
from neuroperception.encoding.ridge import RidgeCV
from neuroperception.errors import AlignmentError, InputError, ShapeError
from neuroperception.plotting.motion import plot_flow, plot_flow_comparison, save_animation

H = W = 12
ALPHAS = np.logspace(-2, 4, 7)


def _motion_components(h: int = H, w: int = W) -> np.ndarray:
    """Smooth flows: translation x, translation y, rotation, expansion, shear, a slow wave."""
    ys, xs = np.mgrid[0:h, 0:w].astype(float)
    cx, cy = xs - (w - 1) / 2, ys - (h - 1) / 2
    comps = np.stack([
        np.stack([np.ones_like(xs), np.zeros_like(xs)]),
        np.stack([np.zeros_like(xs), np.ones_like(xs)]),
        np.stack([-cy, cx]) / (w / 2),
        np.stack([cx, cy]) / (w / 2),
        np.stack([cy, cx]) / (w / 2),
        np.stack([np.sin(2 * np.pi * ys / h), np.cos(2 * np.pi * xs / w)]),
    ])
    return comps.astype(np.float32)


def _planted(n: int = 240, n_vox: int = 80, noise: float = 0.5, seed: int = 0):
    rng = np.random.default_rng(seed)
    coefs = rng.standard_normal((n, 6)) * 1.5
    flows = np.einsum("nk,kchw->nchw", coefs, _motion_components()).astype(np.float32)
    weights = rng.standard_normal((6, n_vox))
    responses = coefs @ weights + noise * rng.standard_normal((n, n_vox))
    return coefs, flows, responses


def _labelled(responses: np.ndarray, flows: np.ndarray):
    ids = [f"s{i:03d}" for i in range(len(flows))]
    resp = xr.DataArray(responses, dims=("stimulus", "voxel"), coords={"stimulus_id": ("stimulus", ids)})
    fl = xr.DataArray(flows, dims=("stimulus", "axis", "y", "x"),
                      coords={"stimulus_id": ("stimulus", ids), "axis": ["dx", "dy"]})
    return resp, fl


# ---------------------------------------------------------------- bases
def test_pca_basis_matches_sklearn_and_is_exact_in_span():
    _, flows, _ = _planted(n=50)
    basis = FlowBasis(n_components=6, kind="pca").fit(flows)
    ref = PCA(n_components=6).fit(flows.reshape(50, -1).astype(np.float64))
    np.testing.assert_allclose(basis.explained_variance_, ref.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(basis.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-6)
    np.testing.assert_allclose(np.abs(basis.components_ @ ref.components_.T), np.eye(6), atol=1e-6)
    # new flows in the span of the same six components are reconstructed exactly
    _, other, _ = _planted(n=10, seed=3)
    np.testing.assert_allclose(basis.decode(basis.encode(other)), other, atol=1e-4)
    # fewer components than the data's rank cannot be exact
    small = FlowBasis(n_components=2).fit(flows)
    assert np.abs(small.decode(small.encode(other)) - other).max() > 0.1


def test_dct_basis_matches_scipy_and_reconstructs_smooth_fields():
    rng = np.random.default_rng(0)
    field = rng.standard_normal((1, 2, H, W))
    basis = FlowBasis(n_components=2 * H * W, kind="dct").fit(field)
    np.testing.assert_allclose(basis.components_ @ basis.components_.T, np.eye(2 * H * W), atol=1e-10)
    ref = scipy.fft.dctn(field[0], axes=(-2, -1), norm="ortho")  # (2, H, W) coefficients
    axis, ky, kx = basis.frequencies_.T
    np.testing.assert_allclose(basis.encode(field)[0], ref[axis, ky, kx], atol=1e-5)
    np.testing.assert_allclose(basis.decode(basis.encode(field)), field, atol=1e-5)  # complete basis
    # a smooth field (rotation + expansion) is captured by a few low frequencies; noise is not
    smooth = _motion_components()[2:4].sum(0, keepdims=True) * 3
    low = FlowBasis(n_components=24, kind="dct").fit(smooth)
    rel = np.linalg.norm(low.decode(low.encode(smooth)) - smooth) / np.linalg.norm(smooth)
    rel_noise = np.linalg.norm(low.decode(low.encode(field)) - field) / np.linalg.norm(field)
    assert rel < 0.1 < 0.8 < rel_noise
    assert basis.frequencies_[:4].tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 1], [1, 0, 1]]


def test_basis_errors():
    with pytest.raises(InputError, match="kind"):
        FlowBasis(kind="wavelet").fit(np.zeros((3, 2, 4, 4)))
    with pytest.raises(InputError, match="at most 3"):
        FlowBasis(n_components=4).fit(np.zeros((3, 2, 4, 4)))
    basis = FlowBasis(n_components=2, kind="dct").fit(np.zeros((3, 2, 4, 4)))
    with pytest.raises(ShapeError, match=r"expected \(N, 2, 4, 4\)"):
        basis.encode(np.zeros((3, 2, 5, 5)))
    with pytest.raises(ShapeError, match=r"expected \(N, 2\)"):
        basis.decode(np.zeros((3, 5)))


# ---------------------------------------------------------------- decoder
def test_planted_flows_decoded_far_below_shuffle_and_better_with_snr():
    epes = []
    for noise in (4.0, 1.0, 0.25):
        _, flows, responses = _planted(noise=noise)
        dec = FlowDecoder(n_components=6, alphas=ALPHAS).fit(responses[:180], flows[:180])
        pred = dec.predict(responses[180:])
        epes.append(float(np.mean(dec.endpoint_error(responses[180:], flows[180:]))))
        base = shuffle_baseline(pred, flows[180:], n_shuffles=50)
        assert base.observed == pytest.approx(epes[-1], rel=1e-5)
        assert base.p_value == pytest.approx(1 / 51)
    assert epes[0] > epes[1] > epes[2]
    assert epes[2] < 0.1 * base.mean
    dct = FlowDecoder(n_components=32, basis="dct", alphas=ALPHAS).fit(responses[:180], flows[:180])
    assert np.mean(dct.endpoint_error(responses[180:], flows[180:])) < 0.2 * base.mean
    table = flow_decoding_report(pred, flows[180:], n_shuffles=50)
    assert table.loc["decoded", "epe"] < 0.1 * table.loc["shuffled", "epe"]
    assert table.loc["decoded", "angular_error_deg"] < table.loc["zero flow", "angular_error_deg"]


def test_decoding_mt_of_the_simulated_brain():
    coefs, flows, _ = _planted(n=200)
    feats = xr.DataArray(coefs, dims=("stimulus", "feature"))
    errs = []
    for snr in (0.2, 2.0):
        brain = simulate_brain(feats, n_voxels=120, rois=("MT",), snr=snr, sparsity=0.5, random_state=1)
        resp = average_repeats(brain.responses)
        assert set(resp["roi"].values) == {"MT"}
        fl = xr.DataArray(flows, dims=("stimulus", "axis", "y", "x"),
                          coords={"stimulus_id": ("stimulus", resp["stimulus_id"].values), "axis": ["dx", "dy"]})
        train, test = resp.isel(stimulus=slice(0, 150)), resp.isel(stimulus=slice(150, None))
        dec = FlowDecoder(n_components=6, alphas=ALPHAS).fit(train, fl[:150])
        pred = dec.predict(test)
        errs.append(flow_decoding_report(pred, fl[150:], n_shuffles=30))
    assert errs[1].loc["decoded", "epe"] < errs[0].loc["decoded", "epe"]
    assert errs[1].loc["decoded", "epe"] < 0.7 * errs[1].loc["shuffled", "epe"]


def test_decoder_reuses_ridgecv_on_basis_coefficients():
    _, flows, responses = _planted(n=120, noise=1.0)
    dec = FlowDecoder(n_components=5, alphas=ALPHAS, cv=4).fit(responses, flows)
    assert isinstance(dec.ridge_, RidgeCV)
    ref = RidgeCV(alphas=ALPHAS, cv=4).fit(responses, dec.basis_.encode(flows))
    np.testing.assert_array_equal(dec.ridge_.best_alphas_, ref.best_alphas_)
    np.testing.assert_allclose(dec.ridge_.coef_, ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(dec.predict(responses), dec.basis_.decode(ref.predict(responses)), atol=1e-5)
    assert dec.score(responses, flows) == pytest.approx(-np.mean(dec.endpoint_error(responses, flows)))
    assert dec.score(responses, flows) < 0
    params = clone(dec).get_params()
    np.testing.assert_array_equal(params.pop("alphas"), ALPHAS)
    assert params == {"n_components": 5, "basis": "pca", "cv": 4}


def test_labelled_in_labelled_out_and_alignment_by_id():
    _, flows, responses = _planted(n=60, noise=0.2)
    resp, fl = _labelled(responses, flows)
    order = np.random.default_rng(0).permutation(60)
    ref = FlowDecoder(n_components=6, alphas=ALPHAS).fit(responses, flows)
    dec = FlowDecoder(n_components=6, alphas=ALPHAS).fit(resp, fl.isel(stimulus=order))  # flows shuffled: by id
    pred = dec.predict(resp)
    assert pred.dims == ("stimulus", "axis", "y", "x") and pred["axis"].values.tolist() == ["dx", "dy"]
    assert pred["stimulus_id"].values.tolist() == resp["stimulus_id"].values.tolist()
    np.testing.assert_allclose(pred.values, ref.predict(responses), atol=1e-5)
    # scoring against flows in another order aligns by id too
    assert dec.score(resp, fl.isel(stimulus=order)) == pytest.approx(ref.score(responses, flows), rel=1e-5)
    assert isinstance(dec.predict(torch.from_numpy(responses)), torch.Tensor)
    assert isinstance(dec.predict(responses), np.ndarray)


def test_decoder_errors():
    _, flows, responses = _planted(n=40)
    resp, fl = _labelled(responses, flows)
    with pytest.raises(ShapeError, match=r"expected \(\.\.\., 2, H, W\)"):
        FlowDecoder(n_components=3).fit(responses, np.zeros((40, 3, H, W)))
    with pytest.raises(ShapeError, match="expected"):
        FlowDecoder(n_components=3).fit(responses, fl.rename(axis="channel"))
    other = fl.assign_coords(stimulus_id=("stimulus", [f"x{i}" for i in range(40)]))
    with pytest.raises(AlignmentError, match="stimulus ids differ"):
        FlowDecoder(n_components=3).fit(resp, other)
    with pytest.raises(AlignmentError, match="'X': 40, 'y': 39"):
        FlowDecoder(n_components=3).fit(responses, flows[:39])
    bad = flows.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        FlowDecoder(n_components=3).fit(responses, bad)
    bad_resp = responses.copy()
    bad_resp[1, 2] = np.inf
    with pytest.raises(InputError, match="NaN/Inf"):
        FlowDecoder(n_components=3).fit(bad_resp, flows)
    dec = FlowDecoder(n_components=3, alphas=ALPHAS).fit(responses, flows)
    with pytest.raises(ShapeError, match="80 voxels"):
        dec.predict(responses[:, :10])


# ---------------------------------------------------------------- baselines
def test_shuffle_baseline_pairs_every_stimulus_with_another():
    true = np.arange(5.0)[:, None, None, None] * np.ones((5, 2, 3, 3), dtype=np.float32)
    base = shuffle_baseline(true, true, n_shuffles=200, random_state=3)
    # each term is |i - perm(i)| * sqrt(2) >= sqrt(2) when no stimulus is paired with itself
    assert base.values.min() >= np.sqrt(2) - 1e-5 and base.observed == 0.0
    again = shuffle_baseline(true, true, n_shuffles=200, random_state=3)
    np.testing.assert_array_equal(base.values, again.values)
    two = shuffle_baseline(true[:2], true[:2], n_shuffles=5)  # one derangement of two: the swap
    np.testing.assert_allclose(two.values, np.sqrt(2), rtol=1e-6)
    with pytest.raises(ShapeError, match="at least 2"):
        shuffle_baseline(true[:1], true[:1])
    with pytest.raises(ShapeError, match="shape of target"):
        shuffle_baseline(true[:, :, :2], true)


def test_report_zero_flow_and_angular_error():
    rng = np.random.default_rng(0)
    true = rng.standard_normal((6, 2, 4, 4)).astype(np.float32)
    table = flow_decoding_report(true, true, n_shuffles=10)
    assert table.loc["decoded", "epe"] == 0 and table.loc["decoded", "angular_error_deg"] == pytest.approx(0, abs=1e-3)
    np.testing.assert_allclose(table.loc["zero flow", "epe"], np.hypot(true[:, 0], true[:, 1]).mean(), rtol=1e-5)
    # Barron's angular error of a zero prediction against a uniform (3, 4) flow: arccos(1 / sqrt(26))
    uni = np.ones((2, 2, 3, 3)) * np.array([3.0, 4.0])[None, :, None, None]
    uni[1] *= -1
    zero_ae = flow_decoding_report(uni, uni, n_shuffles=3).loc["zero flow", "angular_error_deg"]
    assert zero_ae == pytest.approx(np.degrees(np.arccos(1 / np.sqrt(26))), rel=1e-5)


# ---------------------------------------------------------------- rendering and plots
def test_render_motion_of_a_uniform_translation_shifts_the_frame():
    frame = torch.rand(3, 10, 14, generator=torch.Generator().manual_seed(0))
    flow = torch.zeros(2, 10, 14)
    flow[0], flow[1] = 2.0, 1.0  # 2 px right and 1 px down per frame
    video = render_motion(frame, flow, n_frames=4, padding_mode="zeros")
    assert video.shape == (4, 3, 10, 14)
    for t in range(4):
        expected = torch.zeros_like(frame)
        expected[:, t:, 2 * t:] = frame[:, :10 - t, :14 - 2 * t]
        torch.testing.assert_close(video[t], expected, atol=1e-5, rtol=0)
    batch = render_motion(frame[None].repeat(2, 1, 1, 1), torch.stack([flow, -flow]), n_frames=3)
    assert batch.shape == (2, 3, 3, 10, 14)
    with pytest.raises(InputError, match="n_frames"):
        render_motion(frame, flow, n_frames=0)
    with pytest.raises(ShapeError, match="frames' N"):
        render_motion(frame[None].repeat(2, 1, 1, 1), torch.zeros(3, 2, 10, 14))


def test_save_animation_writes_every_frame_and_never_overwrites(tmp_path):
    frame = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    flow = torch.zeros(2, 16, 16)
    flow[0] = 1.0
    video = render_motion(frame, flow, n_frames=6)
    path = save_animation(video, tmp_path / "sub" / "motion.gif", fps=5)
    with Image.open(path) as gif:
        assert gif.n_frames == 6 and gif.info["duration"] == 200
        gif.seek(0)
        first = np.asarray(gif.convert("RGB"), dtype=float) / 255
    assert np.abs(first - video[0].permute(1, 2, 0).numpy()).mean() < 0.05  # palette quantisation only
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_animation(video[:3], path)
    assert path.read_bytes() == before
    save_animation(video[:3].permute(0, 2, 3, 1).numpy(), path, overwrite=True)  # (T, H, W, 3)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        save_animation(video * 2, tmp_path / "bad.gif")
    with pytest.raises(InputError, match=".gif"):
        save_animation(video, tmp_path / "motion.mp4")


def test_plot_flow_arrows_follow_the_flow():
    flow = np.zeros((2, 32, 32))
    flow[0] = 1.0  # all arrows point right: direction angle 0
    fig = plot_flow(flow, image=np.full((3, 32, 32), 0.5), step=8)
    q = fig.axes[0].collections[0]
    assert len(q.get_offsets()) == 16
    np.testing.assert_allclose(q.U, 1.0)
    np.testing.assert_allclose(q.V, 0.0)
    np.testing.assert_allclose(q.get_array(), 0.0)
    assert fig.axes[0].get_ylim()[0] > fig.axes[0].get_ylim()[1]  # y points down as in images
    with pytest.raises(ShapeError, match=r"\(2, H, W\)"):
        plot_flow(np.zeros((3, 8, 8)))
    with pytest.raises(ShapeError, match="flow's size"):
        plot_flow(flow, image=np.zeros((3, 8, 8)))
    fl = xr.DataArray(np.ones((5, 2, 16, 16)), dims=("stimulus", "axis", "y", "x"),
                      coords={"stimulus_id": ("stimulus", list("abcde"))})
    fig = plot_flow_comparison(fl, fl * 0.5, image=np.zeros((5, 3, 16, 16)), max_rows=3)
    assert fig.axes[0].get_title() == "a: true" and fig.axes[6].get_title() == "c: true"
    assert fig.axes[2].get_title() == f"EPE {np.sqrt(0.5):.3f} px"
    with pytest.raises(ShapeError, match="shape of target"):
        plot_flow_comparison(np.ones((2, 2, 8, 8)), np.ones((3, 2, 8, 8)))
