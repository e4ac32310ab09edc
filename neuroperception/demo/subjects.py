"""Demo section on several subjects: functional alignment, cross-subject prediction and adapting a shared
decoder to a new subject from a little of its data."""

from __future__ import annotations

import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from ..alignment import SharedResponseModel, predict_subject
from ..data import select_stimuli, simulate_subjects
from ..decoding import RidgeDecoder, SharedSpaceDecoder, retrieval_accuracy
from ..plotting import Report
from ._world import shows
from .registry import DemoContext, demo_section


def _top1(pred, target) -> float:
    return float(retrieval_accuracy(pred, target, k=1, direction="brain_to_image")["top-1"].iloc[0])


def _signal_r(pred: xr.DataArray, signal: np.ndarray) -> float:
    """Median over voxels of the correlation between a prediction and the planted noise-free signal."""
    a, b = pred.values - pred.values.mean(0), signal - signal.mean(0)
    return float(np.median((a * b).sum(0) / np.sqrt((a ** 2).sum(0) * (b ** 2).sum(0))))


@demo_section("subjects", doc="subjects.md")
def _subjects(ctx: DemoContext, report: Report) -> None:
    t0 = time.perf_counter()
    n_stimuli, n_subjects, n_voxels = (400, 4, 150) if ctx.quick else (1000, 5, 300)
    fractions = (0.05, 0.1, 0.4) if ctx.quick else (0.025, 0.05, 0.1, 0.2, 0.4, 0.8)
    k = 12
    rng = np.random.default_rng(0)
    ids = [f"stim{i:04d}" for i in range(n_stimuli)]
    features = xr.DataArray(rng.standard_normal((n_stimuli, 32)), dims=("stimulus", "feature"),
                            coords={"stimulus_id": ("stimulus", ids)})
    sim = simulate_subjects(features, n_subjects=n_subjects, n_voxels=n_voxels, n_components=k, snr=1.0,
                            shared=0.5, random_state=0)
    subjects = sim.subjects
    names = list(subjects)
    shared = list(sim.shared_stimuli)
    held_out = shared[-int(round(0.25 * len(shared))):]

    # cross-subject prediction through the SRM, scored against the target's planted signal
    cross = []
    fitted = names[:-1]
    for source, target in zip(fitted, fitted[1:] + fitted[:1]):
        pred = predict_subject(subjects.select(subject=fitted), source, target, held_out,
                               model=SharedResponseModel(n_components=k))
        signal = select_stimuli(sim.shared_latent, held_out).values @ sim.maps[target].values
        cross.append(_signal_r(pred, signal))

    # a shared decoder on all subjects but the last, adapted to it from a fraction of its data
    new_name = names[-1]
    new = subjects[new_name]
    own = [i for i in subjects.stimulus_ids(new_name) if i not in set(shared)]     # no other subject saw them
    pool = [i for i in subjects.stimulus_ids(new_name) if i in set(shared)]
    pool = [pool[j] for j in np.random.default_rng(1).permutation(len(pool))]
    decoder = SharedSpaceDecoder(n_components=k).fit(subjects.select(subject=names[:-1]), features)
    target = select_stimuli(features, own)
    rows = []
    for fraction in fractions:
        keep = pool[:max(3, int(round(fraction * len(subjects.stimulus_ids(new_name)))))]
        adapted = copy.deepcopy(decoder).adapt(select_stimuli(new, keep), features, subject=new_name)
        scratch = RidgeDecoder().fit(select_stimuli(new, keep), select_stimuli(features, keep))
        rows.append({"share of the new subject's data": fraction, "stimuli": len(keep),
                     "adapted shared decoder, top-1": _top1(adapted.predict(select_stimuli(new, own)), target),
                     "decoder from scratch, top-1": _top1(scratch.predict(select_stimuli(new, own)), target),
                     "chance": 1 / len(own)})
    table = pd.DataFrame(rows)

    fig, ax = plt.subplots(figsize=(5.2, 3.8), layout="constrained")
    x = table["share of the new subject's data"]
    ax.plot(x, table["adapted shared decoder, top-1"], "o-", color="tab:blue", label="adapted shared decoder")
    ax.plot(x, table["decoder from scratch, top-1"], "s--", color="tab:orange", label="from scratch")
    ax.axhline(1 / len(own), color="grey", lw=0.8, ls=":", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel(f"share of {new_name}'s stimuli used")
    ax.set_ylabel(f"top-1 retrieval of its {len(own)} own stimuli")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False)
    ax.set_title("A new subject from a little data")

    s = report.section(
        "Several subjects",
        f"simulate_subjects makes {n_subjects} subjects of about {n_voxels} voxels that share a {k}-dimensional "
        f"planted latent response to {n_stimuli} stimuli (32 random features, SNR 1), each with its own voxels, "
        f"map, noise and ROI sizes; half the stimuli are seen by all, the others by one subject each. A shared "
        f"response model (SRM, {k} components) fitted on the stimuli the first {n_subjects - 1} subjects share "
        f"predicts each of them from the next one's responses to {len(held_out)} held-out shared stimuli "
        "(predict_subject), scored by the median over voxels of the correlation with the target's planted "
        f"noise-free signal. A SharedSpaceDecoder (per-subject SRM adapters, one ridge head to the features) is "
        f"fitted on those {n_subjects - 1} subjects; {new_name} is then adapted (its adapter alone, the head "
        "frozen) from a share of its stimuli with their features, and compared with a RidgeDecoder fitted from "
        f"scratch on the same stimuli, by top-1 retrieval of the {len(own)} stimuli only {new_name} saw "
        f"(chance {1 / len(own):.3f}). One seed: analyses/subjects_study.py repeats it over 5 with intervals.",
        doc="subjects.md",
    )
    s.tables.append(Report.table(table, f"{new_name}: adapted shared decoder vs a decoder from scratch, top-1 "
                                        "retrieval of its own stimuli"))
    s.figures.append(report.figure(fig, "subjects_adaptation",
                                   "Top-1 retrieval of the new subject's own stimuli against the share of its "
                                   "data, adapted shared decoder and decoder from scratch, with chance."))
    share = "share of the new subject's data"
    ten = table.iloc[int(np.argmin(np.abs(table[share] - 0.1)))]
    last = table.iloc[-1]
    shows(s, f"the SRM predicts one subject from another with a median correlation of "
             f"{min(cross):.2f}–{max(cross):.2f} with the target's planted signal; adapted from "
             f"{ten[share]:.0%} of its data ({int(ten['stimuli'])} stimuli), the shared decoder retrieves "
             f"{new_name}'s own stimuli top-1 at {ten['adapted shared decoder, top-1']:.2f} against "
             f"{ten['decoder from scratch, top-1']:.2f} from scratch, and the gap is "
             f"{last['adapted shared decoder, top-1'] - last['decoder from scratch, top-1']:.2f} at {last[share]:.0%}",
          "MindEye2's shared-subject model adapted to a new subject from one hour of data (Scotti et al. 2024) "
          "and hyperalignment's common model space (Haxby et al. 2011)")
    ctx.timings["subjects"] = time.perf_counter() - t0
