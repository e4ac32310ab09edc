"""Several brains: adapting a shared-space decoder to a new subject from a little data, and cross-subject prediction.

Mirrors the shared-subject decoders of MindEye2 (Scotti et al. 2024, "Shared-subject models enable
fMRI-to-image with 1 hour of data"): a model pretrained on 7 NSD subjects, whose per-subject linear
maps into a shared latent feed one shared mapping to CLIP space, is fine-tuned on one hour (one of
the 40 sessions, 2.5 %) of a new subject, and beats a model trained on that subject's hour alone;
the paper's headline is that a single visit to the scanner then suffices for high-quality
retrieval and reconstruction. Here the same question is asked in miniature, with linear parts
only, and also the classic one of functional alignment (Haxby et al. 2011; Chen et al. 2015): how
well does one subject's brain predict another's voxels through a shared response model?

``simulate_subjects`` builds five subjects (1000 stimuli with 32 random features; about 300 voxels
each; a 12-component shared latent with sparse planted tuning; median SNR 1; half the stimuli seen
by all, each other stimulus by one subject). (1) **Adaptation curve**: a ``SharedSpaceDecoder``
(SRM adapters, one ridge head) is fitted on four subjects; the fifth is decoded from a fraction of
its data (stimuli drawn from those it shares with the others), adapted with features (the adapter
that minimises the loss through the frozen head), adapted from the shared stimuli alone (the SRM
update, no features), or decoded by a ``RidgeDecoder`` fitted from scratch on the same stimuli.
All three are scored by top-1 retrieval of the 100 stimuli only the new subject saw (chance 0.01),
means and t 95 % intervals over 5 seeds. (2) **Cross-subject prediction**: every subject's voxels
are predicted from every other subject's responses to 100 held-out shared stimuli
(``predict_subject`` with the SRM and with ridge alignment), scored by the median correlation over
voxels with the measured responses and with the planted noise-free signal. (3) **Cross-subject
decoding**: ``cross_subject_decoding`` fits a ridge decoder on each subject and decodes every
subject's responses to 100 held-out shared stimuli with it, after ridge, Procrustes or SRM alignment
into the decoder's voxels (top-1 among the 100, chance 0.01, 5 seeds). Expected: adapting wins
clearly at 2.5-10 % of the data and the gap closes as the data grow; predictions from another
subject correlate far better with the planted signal than with the noisy measurements; decoders
carry over to other subjects far above chance. Found (full run): the ridge-aligned responses of another subject
decode as well as the decoder's own subject (0.81 both; difference 0.000, interval -0.013 to 0.013:
ridge alignment averages away noise as much as it loses signal), Procrustes and SRM lose a little
(-0.066, -0.092 to -0.040; -0.044, -0.066 to -0.022).

With real data (``load_nsd_subjects`` with CLIP features of the shown images aligned by
``stimulus_id``) the same calls run unchanged; the head is linear here where MindEye2's is a deep
network trained with a contrastive loss and a diffusion prior, and there is no planted signal:
cross-subject predictions are then scored against the measured responses only, and the noise
ceiling bounds them.

Run: ``python analyses/subjects_study.py [--out DIR] [--quick]``; writes ``adaptation.csv``,
``adaptation_summary.csv``, ``cross_subject.csv``, ``cross_decoding.csv``, ``cross_decoding_summary.csv``,
``adaptation_curve.png``, ``cross_subject.png``, ``cross_subject_map.png`` and ``cross_decoding.png``
(``--quick``: 3 seeds and 3 fractions, under a minute; the full run: about a minute on one thread).
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from scipy import stats  # noqa: E402

from neuroperception.alignment import (ProcrustesAlignment, RidgeAlignment, SharedResponseModel,  # noqa: E402
                                      predict_subject)
from neuroperception.data import simulate_subjects  # noqa: E402
from neuroperception.decoding import (RidgeDecoder, SharedSpaceDecoder, cross_subject_decoding,  # noqa: E402
                                     retrieval_accuracy)
from neuroperception.plotting import plot_voxel_map, save_figure  # noqa: E402

HERE = Path(__file__).resolve().parent
N_STIMULI, N_FEATURES, N_SUBJECTS, N_VOXELS, N_COMPONENTS = 1000, 32, 5, 300, 12
FRACTIONS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.8)
QUICK_FRACTIONS = (0.05, 0.1, 0.5)
METHODS = ("adapted (features)", "adapted (shared stimuli)", "from scratch")
NEW = f"subj{N_SUBJECTS:02d}"


def simulate(seed: int):
    """The five simulated subjects and their features (stimulus ids ``img0000``...)."""
    rng = np.random.default_rng(seed)
    features = xr.DataArray(rng.standard_normal((N_STIMULI, N_FEATURES)), dims=("stimulus", "feature"),
                            coords={"stimulus_id": ("stimulus", [f"img{i:04d}" for i in range(N_STIMULI)])})
    sim = simulate_subjects(features, n_subjects=N_SUBJECTS, n_voxels=N_VOXELS, n_components=N_COMPONENTS,
                            random_state=seed)
    return sim, features


def _select(da: xr.DataArray, ids) -> xr.DataArray:
    keep = np.isin(np.asarray(da["stimulus_id"].values).astype(str), list(ids))
    return da.isel(stimulus=np.flatnonzero(keep))


def adaptation_run(seed: int, fractions) -> pd.DataFrame:
    """Top-1/top-5 retrieval of the new subject's own stimuli for each method and fraction of its data."""
    sim, features = simulate(seed)
    subjects = sim.subjects
    shared = set(sim.shared_stimuli)
    trained = SharedSpaceDecoder(n_components=N_COMPONENTS).fit(subjects.select(subject=list(subjects)[:-1]),
                                                                features)
    new = subjects[NEW]
    ids = subjects.stimulus_ids(NEW)
    test = [i for i in ids if i not in shared]  # no other subject saw them: neither the head nor the SRM did
    pool = [i for i in ids if i in shared]
    pool = [pool[j] for j in np.random.default_rng(seed).permutation(len(pool))]
    target = _select(features, test)
    rows = []
    for frac in fractions:
        keep = pool[:int(round(frac * len(ids)))]
        train = _select(new, keep)
        decoders = {
            "adapted (features)": copy.deepcopy(trained).adapt(train, features, subject=NEW),
            "adapted (shared stimuli)": copy.deepcopy(trained).adapt(train, subject=NEW)
            if len(keep) >= N_COMPONENTS else None,
            "from scratch": RidgeDecoder().fit(train, _select(features, keep)),
        }
        for method, decoder in decoders.items():
            if decoder is None:
                continue
            table = retrieval_accuracy(decoder.predict(_select(new, test)), target, k=(1, 5),
                                       direction="brain_to_image")
            rows.append({"seed": seed, "fraction": frac, "n_stimuli": len(keep), "method": method,
                         "top-1": table["top-1"].iloc[0], "top-5": table["top-5"].iloc[0],
                         "chance-1": table["chance-1"].iloc[0]})
    return pd.DataFrame(rows)


def _interval(values) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=float)
    mean = values.mean()
    if len(values) < 2:
        return mean, np.nan, np.nan
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return mean, mean - half, mean + half


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and t 95 % interval over seeds, per fraction and method, and the paired gap to from-scratch."""
    rows = []
    for (frac, method), group in runs.groupby(["fraction", "method"], sort=True):
        mean, low, high = _interval(group["top-1"])
        scratch = runs[(runs.fraction == frac) & (runs.method == "from scratch")].set_index("seed")["top-1"]
        gap = group.set_index("seed")["top-1"] - scratch.reindex(group["seed"]).values
        gmean, glow, ghigh = _interval(gap)
        rows.append({"fraction": frac, "n_stimuli": int(group["n_stimuli"].iloc[0]), "method": method,
                     "top-1": mean, "top-1 low": low, "top-1 high": high,
                     "gap to scratch": gmean, "gap low": glow, "gap high": ghigh,
                     "chance": float(group["chance-1"].iloc[0]), "n_seeds": len(group)})
    return pd.DataFrame(rows)


def plot_adaptation(summary: pd.DataFrame):
    """Retrieval against the fraction of the new subject's data (left) and the paired gap to from-scratch (right)."""
    fig, (ax, gap_ax) = plt.subplots(1, 2, figsize=(10.0, 4.0))
    colours = {"adapted (features)": "C0", "adapted (shared stimuli)": "C2", "from scratch": "C3"}
    ticks = sorted(set(100 * summary["fraction"]))
    for method in METHODS:
        s = summary[summary.method == method].sort_values("fraction")
        if s.empty:
            continue
        x = 100 * s["fraction"]
        ax.plot(x, s["top-1"], "o-", color=colours[method], label=method)
        ax.fill_between(x, s["top-1 low"], s["top-1 high"], color=colours[method], alpha=0.15, linewidth=0)
        if method != "from scratch":
            gap_ax.plot(x, s["gap to scratch"], "o-", color=colours[method], label=method)
            gap_ax.fill_between(x, s["gap low"], s["gap high"], color=colours[method], alpha=0.2, linewidth=0)
    ax.axhline(summary["chance"].iloc[0], color="grey", linestyle=":", label="chance")
    gap_ax.axhline(0, color="grey", linestyle=":")
    for a in (ax, gap_ax):
        a.set_xscale("log")
        a.set_xticks(ticks, [f"{t:g}" for t in ticks])
        a.minorticks_off()
        a.set_xlabel("new subject's data used (% of its stimuli)")
    ax.set_ylabel("top-1 retrieval of its own stimuli")
    ax.set_title("Retrieval (mean, t 95 % interval over seeds)", fontsize=10)
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8)
    gap_ax.set_ylabel("adapted − from scratch (same seed)")
    gap_ax.set_title("Gain of adapting over fitting from scratch", fontsize=10)
    fig.tight_layout()
    return fig


def cross_subject(seed: int = 0, n_held_out: int = 100) -> tuple[pd.DataFrame, xr.DataArray]:
    """Every subject predicted from every other on held-out shared stimuli; per-voxel r of subj02 from subj01."""
    sim, _ = simulate(seed)
    subjects = sim.subjects
    held = list(sim.shared_stimuli[:n_held_out])
    rows, example = [], None
    for model_name, model in (("srm", SharedResponseModel(n_components=N_COMPONENTS)), ("ridge", RidgeAlignment())):
        for source in subjects:
            for target in subjects:
                if source == target:
                    continue
                pred = predict_subject(subjects, source, target, held, model=model)
                measured = _select(subjects[target], held)
                measured = measured.isel(stimulus=pd.Index(measured["stimulus_id"].values.astype(str))
                                         .get_indexer(held))
                latent = sim.shared_latent.isel(stimulus=pd.Index(
                    sim.shared_latent["stimulus_id"].values.astype(str)).get_indexer(held))
                signal = latent.values @ sim.maps[target].values
                r_meas = _columnwise_r(pred.values, measured.values)
                r_sig = _columnwise_r(pred.values, signal)
                rows.append({"model": model_name, "source": source, "target": target,
                             "median r (measured)": float(np.median(r_meas)),
                             "median r (planted signal)": float(np.median(r_sig))})
                if model_name == "srm" and source == "subj01" and target == "subj02":
                    example = xr.DataArray(r_sig, dims=("voxel",),
                                           coords={k: ("voxel", subjects[target][k].values)
                                                   for k in ("x", "y", "z", "roi") if k in subjects[target].coords})
    return pd.DataFrame(rows), example


def _columnwise_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


def _matrix(ax, values: np.ndarray, names: list[str]):
    """A subject x subject matrix in [0, 1] with its values written in the cells."""
    im = ax.imshow(values, vmin=0, vmax=1, cmap="viridis")
    for i in range(len(names)):
        for j in range(len(names)):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="k" if values[i, j] > 0.6 else "w")
    ax.set_xticks(range(len(names)), names, rotation=45)
    ax.set_yticks(range(len(names)), names)
    return im


def plot_cross_subject(table: pd.DataFrame):
    """Source x target matrices of the median correlation with the planted signal, SRM and ridge."""
    models = list(dict.fromkeys(table["model"]))
    names = sorted(set(table["source"]))
    fig, axes = plt.subplots(1, len(models), figsize=(5.0 * len(models), 4.2), layout="constrained")
    for ax, model in zip(np.atleast_1d(axes), models):
        t = table[table.model == model].pivot(index="source", columns="target", values="median r (planted signal)")
        t = t.reindex(index=names, columns=names)
        im = _matrix(ax, t.values, names)
        ax.set_xlabel("predicted subject")
        ax.set_ylabel("source subject")
        ax.set_title(f"{model}: median r with the planted signal", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8)
    return fig


ALIGNMENTS = {"ridge": RidgeAlignment, "procrustes": ProcrustesAlignment,
              "srm": lambda: SharedResponseModel(n_components=N_COMPONENTS)}


def cross_decoding(seed: int, n_held_out: int = 100) -> pd.DataFrame:
    """Each subject's ridge decoder on every subject's held-out shared stimuli, through each alignment."""
    sim, features = simulate(seed)
    tables = []
    for name, make in ALIGNMENTS.items():
        table = cross_subject_decoding(RidgeDecoder(), sim.subjects, features, alignment=make(),
                                       test=n_held_out / len(sim.shared_stimuli), k=(1, 5), random_state=seed)
        tables.append(table.assign(alignment=name, seed=seed, chance=table.attrs["chance"]))
    return pd.concat(tables, ignore_index=True)


def summarise_cross_decoding(runs: pd.DataFrame) -> pd.DataFrame:
    """Per alignment: mean top-1 within subjects and across (off-diagonal), and the paired difference, over seeds."""
    runs = runs.assign(cell=np.where(runs["train_subject"] == runs["test_subject"], "within", "across"))
    per_seed = runs.groupby(["alignment", "seed", "cell"])["top-1"].mean().unstack("cell")
    rows = []
    for name, group in per_seed.groupby(level="alignment", sort=False):
        row = {"alignment": name, "n_seeds": len(group), "chance": float(runs["chance"].iloc[0])}
        for label, values in (("within", group["within"]), ("across", group["across"]),
                              ("across - within", group["across"] - group["within"])):
            mean, low, high = _interval(values)
            row.update({label: mean, f"{label} low": low, f"{label} high": high})
        rows.append(row)
    return pd.DataFrame(rows)


def plot_cross_decoding(runs: pd.DataFrame, seed: int = 0):
    """Train x test matrices of top-1 retrieval (one seed), one per alignment."""
    names = sorted(set(runs["train_subject"]))
    alignments = list(dict.fromkeys(runs["alignment"]))
    fig, axes = plt.subplots(1, len(alignments), figsize=(4.2 * len(alignments), 4.0), layout="constrained")
    for ax, name in zip(np.atleast_1d(axes), alignments):
        t = runs[(runs.alignment == name) & (runs.seed == seed)].pivot(index="train_subject", columns="test_subject",
                                                                         values="top-1").reindex(index=names,
                                                                                                 columns=names)
        im = _matrix(ax, t.values, names)
        ax.set_xlabel("responses of (aligned into the decoder's voxels)")
        ax.set_ylabel("decoder of")
        ax.set_title(f"{name}: top-1 among 100 (chance 0.01)", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8)
    return fig


def run(out: Path, quick: bool = False) -> dict[str, pd.DataFrame]:
    """Write the tables and figures into ``out``; return the tables."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = range(3 if quick else 5)
    runs = pd.concat([adaptation_run(s, QUICK_FRACTIONS if quick else FRACTIONS) for s in seeds], ignore_index=True)
    summary = summarise(runs)
    runs.to_csv(out / "adaptation.csv", index=False)
    summary.to_csv(out / "adaptation_summary.csv", index=False)
    save_figure(plot_adaptation(summary), out / "adaptation_curve.png")
    table, example = cross_subject(0)
    table.to_csv(out / "cross_subject.csv", index=False)
    save_figure(plot_cross_subject(table), out / "cross_subject.png")
    save_figure(plot_voxel_map(example, title="subj02 predicted from subj01 (SRM): r with the planted signal",
                               vmin=0, vmax=1, cmap="viridis"), out / "cross_subject_map.png")
    decoding = pd.concat([cross_decoding(s) for s in seeds], ignore_index=True)
    decoding_summary = summarise_cross_decoding(decoding)
    decoding.to_csv(out / "cross_decoding.csv", index=False)
    decoding_summary.to_csv(out / "cross_decoding_summary.csv", index=False)
    save_figure(plot_cross_decoding(decoding), out / "cross_decoding.png")
    return {"adaptation": runs, "adaptation_summary": summary, "cross_subject": table, "cross_decoding": decoding,
            "cross_decoding_summary": decoding_summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "subjects_study")
    parser.add_argument("--quick", action="store_true", help="3 seeds and 3 fractions")
    args = parser.parse_args()
    tables = run(args.out, quick=args.quick)
    pd.set_option("display.width", 160)
    print(tables["adaptation_summary"].round(3).to_string(index=False))
    print(tables["cross_subject"].groupby("model")[["median r (measured)", "median r (planted signal)"]]
          .agg(["mean", "min", "max"]).round(3).to_string())
    print(tables["cross_decoding_summary"].round(3).to_string(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
