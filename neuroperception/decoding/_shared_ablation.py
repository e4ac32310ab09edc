"""ROI ablation of a shared-space decoder: an ROI removed (or kept alone) in every subject at once.

:func:`~neuroperception.decoding.roi_ablation_subjects` calls :func:`shared_ablation` when its decoder is
a :class:`~neuroperception.decoding.SharedSpaceDecoder`: the shared model is refitted on all subjects
with the same voxels removed in each, and scored per subject on stimuli held out from every subject
(the shared head never sees their features through another subject).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._progress import progress_bar
from ..data import Subjects
from ..encoding._dask import fresh_copy
from ..encoding._inputs import held_out_positions
from ..errors import InputError, ShapeError
from .retrieval import retrieval_accuracy, two_way_identification


def _roi_labels(subs: Subjects, rois: Sequence[str] | None) -> list[str]:
    labels = {}
    for name in subs:
        if "roi" not in subs[name].coords:
            raise InputError(f"subjects[{name!r}]: received no 'roi' coordinate on the voxel dim; expected one roi "
                             "label per voxel")
        labels[name] = list(dict.fromkeys(np.asarray(subs[name]["roi"].values).astype(str).tolist()))
    first = next(iter(labels.values()))
    names = first if rois is None else ([rois] if isinstance(rois, str) else [str(r) for r in rois])
    for name, present in labels.items():
        lacking = [r for r in names if r not in present]
        if lacking or not names or len(set(names)) != len(names):
            raise InputError(f"rois: received {names!r}; expected distinct labels every subject has (subject "
                             f"{name!r} has {present}); a shared-space decoder ablates an ROI in all subjects at once")
    return names


def shared_ablation(decoder: Any, subs: Subjects, features: xr.DataArray, rois: Sequence[str] | None, test: Any,
                    ks: tuple[int, ...], n_way: int | None, seed: int, progress: bool | None) -> pd.DataFrame:
    """The joint ablation table (see :func:`~neuroperception.decoding.roi_ablation_subjects`)."""
    names = _roi_labels(subs, rois)
    shared = subs.shared_stimuli()
    held = [shared[p] for p in held_out_positions(test, shared, len(shared), seed)]
    if len(held) < 2 or len(shared) - len(held) < 2:
        raise InputError(f"test: holds out {len(held)} of the {len(shared)} stimuli all subjects saw; expected at "
                         "least 2 held out and 2 left")
    position = {str(i): p for p, i in enumerate(np.asarray(features["stimulus_id"].values))}
    target = features.isel(stimulus=[position[i] for i in held])
    conditions = [("all", "all")] + [("without", r) for r in names] + [("only", r) for r in names]
    rows, chance = [], np.nan
    for condition, roi in progress_bar(conditions, progress, desc="shared ROI ablation", unit="fit"):
        fit, test_x, counts = {}, {}, {}
        for name in subs:
            resp = subs[name]
            labels = np.asarray(resp["roi"].values).astype(str)
            mask = np.ones(labels.size, bool) if condition == "all" else (labels != roi if condition == "without"
                                                                          else labels == roi)
            ids = np.asarray(resp["stimulus_id"].values).astype(str)
            keep = resp.isel(voxel=np.flatnonzero(mask))
            fit[name] = keep.isel(stimulus=np.flatnonzero(~np.isin(ids, held)))
            where = {i: p for p, i in enumerate(ids)}
            test_x[name] = keep.isel(stimulus=[where[i] for i in held])
            counts[name] = int(mask.sum())
        model = fresh_copy(decoder)
        # the shared space cannot have more components than the smallest subject has voxels in this condition
        n_components = min(int(model.n_components), min(counts.values()))
        if n_components < 1:
            empty = [n for n, c in counts.items() if c == 0]
            raise InputError(f"condition {condition!r} {roi!r}: leaves no voxel in subjects {empty}; expected every "
                             "subject to keep some voxels")
        model.set_params(n_components=n_components)
        model.fit(Subjects(fit), features)
        for name in subs:
            pred = model.predict(test_x[name], subject=name)
            if pred.shape != target.shape:
                raise ShapeError(f"decoder.predict: returned shape {pred.shape}; expected {target.shape}")
            table = retrieval_accuracy(pred.values, target.values, k=ks, n_way=n_way, direction="brain_to_image",
                                       random_state=seed)
            chance = float(table[f"chance-{ks[0]}"].iloc[0])
            row = {"subject": name, "condition": condition, "roi": roi, "n_voxels": counts[name],
                   "n_components": n_components}
            row.update({f"top-{k}": float(table[f"top-{k}"].iloc[0]) for k in ks})
            row["identification"] = two_way_identification(pred.values, target.values, metric="correlation")
            rows.append(row)
    table = pd.DataFrame(rows)
    first = f"top-{ks[0]}"
    out = []
    for name in subs:
        t = table[table["subject"] == name].reset_index(drop=True)
        t["drop"] = t.loc[0, first] - t[first]
        t["identification_drop"] = t.loc[0, "identification"] - t["identification"]
        without = t[t["condition"] == "without"].sort_values(["drop", "identification_drop"], ascending=False,
                                                             kind="stable")
        order = {r: i for i, r in enumerate(without["roi"])}
        only = t[t["condition"] == "only"].sort_values("roi", key=lambda s: s.map(order), kind="stable")
        out.append(pd.concat([t.iloc[:1], without, only], ignore_index=True))
    result = pd.concat(out, ignore_index=True)
    result.attrs.update(k=list(ks), n_way=n_way, metric=first, chance={n: chance for n in subs},
                        n_train={n: int(subs[n].sizes["stimulus"]) - len(held) for n in subs},
                        n_test={n: len(held) for n in subs}, test_ids=held, shared=True)
    return result
