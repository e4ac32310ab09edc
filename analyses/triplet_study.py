"""Which level of the visual hierarchy drives perceived similarity? Triplets, observers, choice model.

Mirrors the design of "What makes a face look like a hat" (image triplets in which the similarity
of an early layer, VGG-16, and of a late layer, CORnet-S IT, are de-correlated, so that people's
choices reveal which level their judgements follow): a candidate pool of shipped photographs and
procedural images goes through both models, ``generate_triplets`` fills a grid of
(delta_low, delta_high) cells with congruent and incongruent triplets, three groups of simulated
observers with a planted weighting (low-driven, high-driven, mixed) answer every triplet, and
``fit_choice_model`` recovers each group's weights with bootstrap CIs. The analysis passes when
each group's planted share of the high level lies in the fitted interval.

Here the networks are seeded random inits (nothing is downloaded) and the observers are simulated,
so the figures check the method, not the brain. With real weights (``load_model("torchvision:vgg16",
weights="DEFAULT")`` and the public CORnet-S checkpoint by path) the two levels carry the
photographs' low-level and categorical structure; with human data, export the triplets with
``export_experiment`` (done here into ``experiment/``), collect the CSVs and pass
``load_experiment_responses(csvs, triplets)`` to ``fit_choice_model`` instead of the simulated
observers: the fitted share of the high level is then the study's answer.

Run: ``python analyses/triplet_study.py [--out DIR] [--pool N] [--triplets N] [--bins N] [--fast]``; writes
``grid.png``, ``examples.png``, ``choice_weights.png``, ``choice_map.png``, ``triplets.csv``,
``choice_model.csv``, ``summary.csv``, ``experiment/`` (the browser experiment) and ``features/`` (the
two levels' features as resumable zarr stores, reused by a rerun on the same pool).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from neuroperception.behaviour.choice import fit_choice_model, simulate_observers  # noqa: E402
from neuroperception.behaviour.experiment import export_experiment  # noqa: E402
from neuroperception.behaviour.pool import candidate_pool  # noqa: E402
from neuroperception.behaviour.triplets import generate_triplets  # noqa: E402
from neuroperception.features import extract, load_model  # noqa: E402
from neuroperception.plotting import save_figure  # noqa: E402
from neuroperception.plotting.choice import plot_choice_map, plot_choice_weights  # noqa: E402
from neuroperception.plotting.triplets import plot_triplet_grid, plot_triplets  # noqa: E402

HERE = Path(__file__).resolve().parent
#: Planted share of the high level, w_high / (w_low + w_high) in standardised units, per observer group.
OBSERVERS = {"low-driven": 0.0, "high-driven": 1.0, "mixed": 0.5}
STRENGTH = 2.5  # log-odds per standard deviation of combined evidence


def planted_weights(triplets: pd.DataFrame, share: float, strength: float = STRENGTH) -> tuple[float, float]:
    """Per-unit weights whose standardised values are ``strength * (1 - share)`` and ``strength * share``."""
    sd = triplets[["delta_low", "delta_high"]].to_numpy(dtype=float).std(axis=0)
    return strength * (1 - share) / sd[0], strength * share / sd[1]


def run(out_dir: Path, *, n_pool: int = 600, n_triplets: int = 150, n_bins: int = 10, size: int = 96,
        low=("torchvision:vgg16", "features.4"), high=("cornet_s", "IT"), n_observers: int = 20,
        n_bootstrap: int = 1000, random_state: int = 0, progress: bool = True) -> pd.DataFrame:
    """Generate triplets, simulate three observer groups, fit the choice model; write figures and tables."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pool = candidate_pool(n_pool, size=size, random_state=random_state)
    features = {}
    for level, (spec, layer) in (("low", low), ("high", high)):
        # one resumable store per level and setting: a rerun with other grid settings skips the networks
        tag = f"{spec}_{layer}_{n_pool}_{size}_{random_state}".replace(":", "-").replace("/", "-")
        features[level] = extract(load_model(spec), pool, [layer], pooling="avg:7", progress=progress,
                                  store=out_dir / "features" / f"{tag}.zarr")[layer]
    triplets = generate_triplets(features, n_triplets=n_triplets, n_bins=n_bins, random_state=random_state,
                                 progress=progress)
    triplets.to_csv(out_dir / "triplets.csv", index=False)
    save_figure(plot_triplet_grid(triplets, title=f"{low[0]} {low[1]} vs {high[0]} {high[1]}"), out_dir / "grid.png")
    save_figure(plot_triplets(pool, triplets, n=4), out_dir / "examples.png")

    fits, maps, rows = {}, {}, []
    for k, (name, share) in enumerate(OBSERVERS.items()):
        w_low, w_high = planted_weights(triplets, share)
        responses = simulate_observers(triplets, w_low, w_high, n_observers=n_observers,
                                       random_state=random_state + k)
        fit = fit_choice_model(triplets, responses, n_bootstrap=n_bootstrap, random_state=random_state)
        fits[name], maps[name] = fit, responses.merge(triplets, on="triplet")
        est = fit
        rows.append({"observer": name, "planted_high_share": share,
                     "high_share": est.loc["high_share", "estimate"],
                     "high_share_ci_low": est.loc["high_share", "ci_low"],
                     "high_share_ci_high": est.loc["high_share", "ci_high"],
                     "w_low (std)": est.loc["low", "estimate"], "w_high (std)": est.loc["high", "estimate"],
                     "planted w_low (std)": STRENGTH * (1 - share), "planted w_high (std)": STRENGTH * share,
                     "model accuracy": fit.attrs["accuracy"], "responses": fit.attrs["n_responses"]})
    pd.concat([f.assign(observer=name) for name, f in fits.items()]).to_csv(out_dir / "choice_model.csv",
                                                                            index=False)
    summary = pd.DataFrame(rows)
    summary.attrs["r_low_high"] = float(triplets.attrs.get("r_low_high", np.nan))
    summary.to_csv(out_dir / "summary.csv", index=False)
    save_figure(plot_choice_weights(fits, planted=OBSERVERS, title="Recovered weights (bars: fitted, 95% CI)"),
                out_dir / "choice_weights.png")
    fig, axes = plt.subplots(1, len(maps), figsize=(5 * len(maps), 4.2))
    for ax, (name, joined) in zip(np.atleast_1d(axes), maps.items()):
        plot_choice_map(joined, fit=fits[name], bins=min(8, n_bins), title=name, ax=ax)
    fig.tight_layout()
    save_figure(fig, out_dir / "choice_map.png")
    export_experiment(triplets, pool, out_dir / "experiment", task="2afc", random_state=random_state,
                      overwrite=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "triplet_study")
    parser.add_argument("--pool", type=int, default=600, help="candidate images (the issue's target: 2000)")
    parser.add_argument("--triplets", type=int, default=150, help="triplets (the issue's target: 500)")
    parser.add_argument("--bins", type=int, default=10, help="grid bins per axis")
    parser.add_argument("--fast", action="store_true",
                        help="weight-free Gabor scale0 vs scale3 instead of VGG-16 vs CORnet-S (seconds)")
    args = parser.parse_args()
    levels = dict(low=("gabor", "scale0"), high=("gabor", "scale3")) if args.fast else {}
    summary = run(args.out, n_pool=args.pool, n_triplets=args.triplets, n_bins=args.bins, **levels)
    print(summary.round(3).to_string(index=False))
    print(f"r(delta_low, delta_high) = {summary.attrs['r_low_high']:.3f}; written to {args.out}")


if __name__ == "__main__":
    main()
