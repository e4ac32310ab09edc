"""Simulated observers and the logistic choice model: planted weightings recovered, sklearn parity, errors."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from neuroperception.behaviour.choice import fit_choice_model, simulate_observers
from neuroperception.errors import AlignmentError, InputError
from neuroperception.plotting.choice import plot_choice_map, plot_choice_weights


def _table(n=300, sd_low=0.2, sd_high=0.05, seed=0):
    """A triplet table whose deltas vary independently (different scales per level)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"triplet": np.arange(100, 100 + n), "delta_low": rng.normal(0, sd_low, n),
                         "delta_high": rng.normal(0, sd_high, n)})


@pytest.mark.parametrize("share", [0.0, 1.0, 0.5, 0.25])
def test_planted_weighting_is_recovered(share):
    t = _table()
    sd = t[["delta_low", "delta_high"]].std(ddof=0).to_numpy()
    strength = 2.0  # log-odds per s.d. of the combined evidence
    w_low, w_high = strength * (1 - share) / sd[0], strength * share / sd[1]
    r = simulate_observers(t, w_low, w_high, n_observers=15, random_state=3)
    fit = fit_choice_model(t, r, n_bootstrap=300, random_state=0)
    assert fit.index.name == "term" and list(fit.index) == ["intercept", "low", "high", "high_share"]
    assert "term" not in fit.columns  # indexed by term, as documented: fit.loc["high_share", "estimate"]
    # standardised weights: planted strength * (1 - share), strength * share
    for term, planted in (("low", strength * (1 - share)), ("high", strength * share)):
        lo, hi = fit.loc[term, ["ci_low", "ci_high"]]
        assert lo <= planted <= hi, (term, planted, lo, hi)
        if planted > 0:
            assert lo > 0  # the level that is used is detected with the right sign
        else:
            assert lo < 0 < hi  # the unused level is not
    lo, hi = fit.loc["high_share", ["ci_low", "ci_high"]]
    # the share is at most 1, so at share = 1 the interval can only reach up to it
    assert lo <= share <= hi + (0.01 if share == 1 else 0)
    assert fit.loc["high_share", "ci_high"] - fit.loc["high_share", "ci_low"] < 0.2
    # per-unit weights estimate w / noise
    for term, planted in (("low", w_low), ("high", w_high)):
        lo, hi = fit.loc[term, ["ci_low_raw", "ci_high_raw"]]
        assert lo <= planted <= hi


def test_sign_convention_closer_option_is_chosen():
    t = pd.DataFrame({"triplet": [0, 1], "delta_low": [-0.3, 0.3], "delta_high": [0.0, 0.0]})
    r = simulate_observers(t, w_low=10, w_high=0, n_observers=400, random_state=0)
    frac = r.groupby("triplet")["chose_a"].mean()
    assert frac[0] > 0.9 and frac[1] < 0.1  # A closer at the low level (delta < 0) -> A chosen
    np.testing.assert_allclose(r.groupby("triplet")["p_a"].first(), 1 / (1 + np.exp([-3, 3])))
    assert set(r["choice"]) == {"A", "B"}
    assert ((r["choice"] == "A") == (r["chose_a"] == 1)).all()


def test_point_estimate_equals_sklearn():
    t = _table(n=200)
    r = simulate_observers(t, 6.0, 20.0, n_observers=4, noise=1.5, bias=0.4, random_state=1)
    l2 = 0.5
    fit = fit_choice_model(t, r, n_bootstrap=0, l2=l2)
    joined = t.set_index("triplet").loc[r["triplet"]]
    sd = t[["delta_low", "delta_high"]].std(ddof=0).to_numpy()
    x = -joined[["delta_low", "delta_high"]].to_numpy() / sd
    ref = LogisticRegression(C=1 / l2, tol=1e-12, max_iter=10000).fit(x, r["chose_a"])
    np.testing.assert_allclose(fit.loc[["low", "high"], "estimate"], ref.coef_[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fit.loc["intercept", "estimate"], ref.intercept_[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fit.loc[["low", "high"], "estimate_raw"], ref.coef_[0] / sd, rtol=1e-5)
    assert fit.loc[["low", "high"], "ci_low"].isna().all()  # no bootstrap, no interval


def test_bias_and_lapse():
    t = _table(n=400)
    r = simulate_observers(t, 0.0, 0.0, n_observers=10, bias=1.0, random_state=2)
    fit = fit_choice_model(t, r, n_bootstrap=200)
    assert fit.loc["intercept", "ci_low"] < 1.0 < fit.loc["intercept", "ci_high"]
    lapsed = simulate_observers(t, 100.0, 0.0, lapse=1.0, n_observers=2)
    np.testing.assert_allclose(lapsed["p_a"], 0.5)


def test_seeds_are_deterministic():
    t = _table(n=100)
    a = simulate_observers(t, 5, 5, n_observers=3, random_state=7)
    b = simulate_observers(t, 5, 5, n_observers=3, random_state=7)
    c = simulate_observers(t, 5, 5, n_observers=3, random_state=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a["chose_a"].equals(c["chose_a"])
    f1, boot1 = fit_choice_model(t, a, n_bootstrap=50, random_state=1, return_bootstrap=True)
    f2 = fit_choice_model(t, a, n_bootstrap=50, random_state=1)
    f3 = fit_choice_model(t, a, n_bootstrap=50, random_state=2)
    pd.testing.assert_frame_equal(f1, f2)
    assert not np.allclose(f1["ci_low"], f3["ci_low"])
    np.testing.assert_allclose(f1["estimate"], f3["estimate"])  # the point estimate needs no seed
    assert len(boot1) == 50
    np.testing.assert_allclose(f1.loc["high", "ci_high"],
                               np.percentile(boot1["high_estimate"], 97.5))


def test_resampling_schemes_and_attrs():
    t = _table(n=150)
    r = simulate_observers(t, 5, 20, n_observers=6, random_state=0)
    widths = {}
    for scheme in ("trials", "participants", "both"):
        fit = fit_choice_model(t, r, n_bootstrap=200, resample=scheme)
        widths[scheme] = fit.loc["high", "ci_high"] - fit.loc["high", "ci_low"]
        assert fit.attrs["resample"] == scheme
    assert widths["both"] > widths["participants"]  # crossed resampling adds the triplets' variability
    assert fit.attrs["n_responses"] == 900 and fit.attrs["n_participants"] == 6 and fit.attrs["n_triplets"] == 150
    assert 0.5 < fit.attrs["accuracy"] <= 1


def test_choice_column_and_missing_choices():
    t = _table(n=60)
    r = simulate_observers(t, 5, 20, n_observers=2, random_state=0).drop(columns=["chose_a", "p_a"])
    r.loc[:4, "choice"] = ""  # e.g. the reference picked as the odd one out
    fit = fit_choice_model(t, r, n_bootstrap=0)
    assert fit.attrs["n_missing"] == 5 and fit.attrs["n_responses"] == 115


def test_errors():
    t = _table(n=30)
    r = simulate_observers(t, 1, 1, n_observers=2)
    with pytest.raises(InputError, match=r"missing \['delta_high'\]"):
        simulate_observers(t.drop(columns="delta_high"), 1, 1)
    with pytest.raises(InputError, match="noise: received 0"):
        simulate_observers(t, 1, 1, noise=0)
    with pytest.raises(InputError, match="w_low: received nan"):
        simulate_observers(t, float("nan"), 1)
    with pytest.raises(InputError, match="n_observers"):
        simulate_observers(t, 1, 1, n_observers=0)
    with pytest.raises(InputError, match="expected a pandas DataFrame"):
        simulate_observers(t.to_numpy(), 1, 1)
    with pytest.raises(AlignmentError, match="not in triplets"):
        fit_choice_model(t.iloc[:10], r, n_bootstrap=0)
    with pytest.raises(AlignmentError, match="duplicated triplet numbers"):
        fit_choice_model(pd.concat([t, t.iloc[:1]]), r, n_bootstrap=0)
    with pytest.raises(InputError, match=r"responses.choice: received values \['C'\]"):
        fit_choice_model(t, r.drop(columns="chose_a").assign(choice="C"), n_bootstrap=0)
    with pytest.raises(InputError, match="chose_a: received values"):
        fit_choice_model(t, r.assign(chose_a=2.0), n_bootstrap=0)
    with pytest.raises(InputError, match="no A/B choice"):
        fit_choice_model(t, r.assign(chose_a=np.nan), n_bootstrap=0)
    with pytest.raises(InputError, match="resample: received 'subjects'"):
        fit_choice_model(t, r, resample="subjects")
    with pytest.raises(InputError, match="ci: received 1.0"):
        fit_choice_model(t, r, ci=1.0)
    with pytest.raises(InputError, match=r"\['delta_low'\] has no variance"):
        fit_choice_model(t.assign(delta_low=0.1), r, n_bootstrap=0)
    with pytest.raises(InputError, match="non-finite"):
        fit_choice_model(t.assign(delta_high=np.nan), r, n_bootstrap=0)


def test_plots():
    t = _table(n=200)
    r = simulate_observers(t, 0, 40, n_observers=5, random_state=0)
    fit = fit_choice_model(t, r, n_bootstrap=50)
    fig = plot_choice_weights({"high-driven": fit, "again": fit}, planted={"high-driven": 1.0})
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 4  # 2 fits x (low, high)
    heights = [p.get_height() for p in fig.axes[0].patches[:2]]
    np.testing.assert_allclose(heights, fit.loc[["low", "high"], "estimate"])
    plt.close(fig)
    fig = plot_choice_weights(fit.reset_index())  # a table with a term column, e.g. read back from a csv
    np.testing.assert_allclose([p.get_height() for p in fig.axes[0].patches], fit.loc[["low", "high"], "estimate"])
    plt.close(fig)
    joined = r.merge(t, on="triplet")
    fig = plot_choice_map(joined, fit=fit, bins=2)
    values = np.asarray(fig.axes[0].collections[0].get_array()).reshape(2, 2)  # (high bin, low bin)
    bins = {}
    for col in ("delta_low", "delta_high"):
        edges = np.linspace(joined[col].min(), joined[col].max() + 1e-12, 3)
        bins[col] = np.digitize(joined[col], edges[1:-1])
    expected = joined.groupby([bins["delta_high"], bins["delta_low"]])["chose_a"].mean().unstack().to_numpy()
    np.testing.assert_allclose(values, expected)
    assert values[0].mean() > values[1].mean() + 0.3  # high level closer for A (delta < 0) -> A chosen
    plt.close(fig)
    with pytest.raises(InputError, match="expected a fit_choice_model table"):
        plot_choice_weights(t)
    with pytest.raises(InputError, match="join responses to their triplets"):
        plot_choice_map(r)
    with pytest.raises(InputError, match="bins: received 1"):
        plot_choice_map(joined, bins=1)
