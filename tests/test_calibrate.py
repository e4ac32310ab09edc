"""Calibrating LPIPS heads: planted heads → simulated 2AFC votes → recovered heads; head files."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from neuroperception.errors import InputError, ShapeError
from neuroperception.similarity.calibrate import _agreement, calibrate_heads, judgement_features, save_heads
from neuroperception.similarity.lpips import LPIPS

SIZE, N_FIT, N_TEST, VOTERS = 48, 1200, 300, 50


def _metric(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random-init backbone
        return LPIPS("alex", **kwargs)


def _triplets(n, g):
    """References (smooth colour fields + texture) and two independently distorted versions."""
    low = F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    ref = 0.7 * low + 0.3 * torch.rand(n, 3, SIZE, SIZE, generator=g)

    def distort(x):
        a, b, c = (torch.rand(n, 1, 1, 1, generator=g) * torch.randint(0, 2, (n, 1, 1, 1), generator=g)
                   for _ in range(3))
        fine = 0.3 * a * torch.randn(x.shape, generator=g)
        coarse = 0.3 * b * F.interpolate(torch.randn(n, 3, 3, 3, generator=g), size=(SIZE, SIZE), mode="bilinear",
                                         align_corners=False)
        blur = F.avg_pool2d(x, 5, 1, 2, count_include_pad=False)
        return ((1 - c) * x + c * blur + fine + coarse).clamp(0, 1)

    return ref, distort(ref), distort(ref)


def _votes(d_diff, g):
    """Votes of VOTERS people per judgement, drawn from P(p1) = sigmoid(d(ref, p0) - d(ref, p1))."""
    return torch.binomial(torch.full_like(d_diff, VOTERS), torch.sigmoid(d_diff), generator=g) / VOTERS


def _corr(a, b):
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    fit, test = _triplets(N_FIT, g), _triplets(N_TEST, g)
    probe = _metric(heads=None)
    delta, _ = judgement_features(probe, fit + (torch.zeros(N_FIT),), batch_size=300)
    delta_test, _ = judgement_features(probe, test + (torch.zeros(N_TEST),), batch_size=300)
    return fit, delta, delta_test, probe


def _scaled(heads, delta, logit_sd=3.0):
    """Scale planted heads so that d0 - d1 has standard deviation ``logit_sd`` (clear preferences)."""
    s = float((delta @ torch.cat(heads)).std())
    return [h * logit_sd / s for h in heads]


def test_design_gives_the_metric_distance_differences(data):
    fit, delta, _, metric = data
    heads = [torch.rand(c, generator=torch.Generator().manual_seed(k)) for k, c in enumerate(metric.channels)]
    metric.set_heads(heads)
    ref, p0, p1 = (v[:8] for v in fit)
    with torch.no_grad():
        direct = metric(ref, p0) - metric(ref, p1)
    assert torch.allclose(delta[:8] @ torch.cat(heads), direct, atol=1e-5)
    assert float(direct.abs().min()) > 1e-3


def test_planted_stage_heads_are_recovered(data):
    fit, delta, delta_test, metric = data
    g = torch.Generator().manual_seed(1)
    factors = torch.tensor([2.0, 0.0, 0.5, 0.0, 1.0])
    planted = _scaled([f * torch.ones(c) for f, c in zip(factors, metric.channels)], delta)
    w_planted = torch.cat(planted)
    judge, judge_test = _votes(delta @ w_planted, g), _votes(delta_test @ w_planted, g)
    metric.set_heads([torch.ones(c) for c in metric.channels])
    result = calibrate_heads(metric, fit + (judge,), epochs=200, lr=1.0, per="stage")
    got = torch.stack([h.mean() for h in metric.heads])
    want = torch.stack([h.mean() for h in planted])
    assert F.cosine_similarity(got, want, dim=0) >= 0.9
    assert F.cosine_similarity(torch.ones(5), want, dim=0) < 0.75  # the fit had to move away from uniform heads
    assert all(torch.allclose(h, h.mean().expand_as(h)) for h in metric.heads)  # per-stage heads stay flat
    # agreement with the simulated people: as good as the planted model's, on the fit and on new judgements
    assert result.agreement >= _agreement(delta @ w_planted, judge) - 0.01
    weights = (torch.cat(metric.heads), w_planted, torch.ones_like(w_planted))
    d_fit, d_planted, d_uniform = (delta_test @ w for w in weights)
    assert _agreement(d_fit, judge_test) >= _agreement(d_planted, judge_test) - 0.02
    # on new judgements the fitted d0 - d1 follows the planted one far more closely than uniform heads' does
    assert 1 - _corr(d_fit, d_planted) <= 0.1 * (1 - _corr(d_uniform, d_planted))
    assert result.loss[-1] <= result.loss[0]


def test_per_channel_fit_agrees_with_people_on_new_judgements(data):
    fit, delta, delta_test, metric = data
    g = torch.Generator().manual_seed(2)
    factors = torch.tensor([0.0, 1.0, 0.0, 0.0, 3.0])
    planted = _scaled([f * torch.rand(c, generator=g) for f, c in zip(factors, metric.channels)], delta)
    w_planted = torch.cat(planted)
    judge, judge_test = _votes(delta @ w_planted, g), _votes(delta_test @ w_planted, g)
    metric.set_heads([torch.ones(c) for c in metric.channels])
    result = calibrate_heads(metric, {"ref": fit[0], "p0": fit[1], "p1": fit[2], "judge": judge}, epochs=30,
                             lr=0.5)
    assert all(float(h.min()) >= 0 for h in result.heads)
    assert all(torch.equal(a, b) for a, b in zip(result.heads, metric.heads))
    weights = (torch.cat(metric.heads), w_planted, torch.ones_like(w_planted))
    d_fit, d_planted, d_uniform = (delta_test @ w for w in weights)
    assert _agreement(d_fit, judge_test) >= _agreement(d_planted, judge_test) - 0.02
    assert 1 - _corr(d_fit, d_planted) <= 0.3 * (1 - _corr(d_uniform, d_planted))


def test_same_seed_same_heads_and_dataset_forms_agree(data):
    fit = tuple(v[:64] for v in data[0])
    judge = torch.rand(64, generator=torch.Generator().manual_seed(3))

    class Dataset:  # the shape of the BAPPS/NIGHTS readers: batches(batch_size) yielding records
        def batches(self, batch_size):
            for i in range(0, 64, batch_size):
                yield {"ref": fit[0][i:i + batch_size], "p0": fit[1][i:i + batch_size],
                       "p1": fit[2][i:i + batch_size], "judge": judge[i:i + batch_size]}

    forms = [fit + (judge,), Dataset(), [fit + (judge,)]]
    try:  # the BAPPS/NIGHTS readers' dataset class, when present
        from neuroperception.similarity.datasets import TwoAFCDataset

        forms.append(TwoAFCDataset.from_arrays(*fit, judge=judge.numpy()))
    except ImportError:
        pass
    metric, runs = data[3], []
    for judgements in forms:
        metric.set_heads([torch.ones(c) for c in metric.channels])
        calibrate_heads(metric, judgements, epochs=3, lr=0.1, batch_size=16, random_state=5)
        runs.append(torch.cat(metric.heads))
    assert len(runs) >= 3
    for other in runs[1:]:
        assert torch.allclose(runs[0], other, atol=1e-6)
    metric.set_heads([torch.ones(c) for c in metric.channels])
    calibrate_heads(metric, fit + (judge,), epochs=3, lr=0.1, batch_size=16, random_state=6)
    assert not torch.allclose(torch.cat(metric.heads), runs[0])


def test_heads_round_trip_through_a_file(tmp_path, data):
    import lpips

    metric = _metric(heads=None)
    g = torch.Generator().manual_seed(4)
    metric.set_heads([torch.rand(c, generator=g) for c in metric.channels])
    path = save_heads(metric, tmp_path / "sub" / "heads.pth")
    loaded = _metric(heads=path)
    assert loaded.heads_source == f"file:{path}"
    for a, b in zip(metric.heads, loaded.heads):
        assert torch.equal(a, b)
    x, y = data[0][0][:4], data[0][1][:4]
    with torch.no_grad():
        assert torch.equal(metric(x, y), loaded(x, y))
    # the file has the lpips package's layout: it loads there too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, model_path=str(path), verbose=False)
    for k, h in enumerate(metric.heads):
        assert torch.equal(ref.lins[k].model[1].weight.flatten(), h)


def test_bad_judgements_are_clear_errors(data):
    ref, p0, p1 = (v[:4] for v in data[0])
    metric = data[3]
    with pytest.raises(InputError, match=r"judge: .*expected fractions of people preferring p1, in \[0, 1\]"):
        calibrate_heads(metric, (ref, p0, p1, torch.full((4,), 2.0)))
    with pytest.raises(ShapeError, match=r"one fraction per judgement \(4\)"):
        calibrate_heads(metric, (ref, p0, p1, torch.zeros(3)))
    with pytest.raises(InputError, match="lacks the field 'judge'"):
        calibrate_heads(metric, {"ref": ref, "p0": p0, "p1": p1})
    with pytest.raises(ShapeError, match="expected the same shape"):
        calibrate_heads(metric, (ref, p0[:, :, 1:, 1:], p1, torch.zeros(4)))
    with pytest.raises(InputError, match="expected an LPIPS metric"):
        calibrate_heads(object(), (ref, p0, p1, torch.zeros(4)))
    with pytest.raises(InputError, match="per: received 'layer'"):
        calibrate_heads(metric, (ref, p0, p1, torch.zeros(4)), per="layer")
    with pytest.raises(InputError, match="received no judgements"):
        calibrate_heads(metric, [])
