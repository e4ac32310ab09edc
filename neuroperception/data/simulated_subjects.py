"""Several simulated subjects that share tuning in one latent space, with every map planted.

:func:`simulate_subjects` draws a shared latent response ``(stimulus, component)`` from the features
with :func:`~neuroperception.data.simulate_brain` (each latent component is one of its noise-free,
standardised "voxels", so it has a planted sparse tuning and an ROI), then gives each subject its own
voxels: their number, ROI sizes, positions, the linear map from the latent components of their ROI to
them, and their noise level all differ between subjects. Some stimuli are seen by every subject, the
others by one subject only, as in NSD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from .._docs import fill_doc
from .._validation import seed_from
from ..errors import InputError
from ._placement import ROI_PLACEMENT, _place
from .responses import make_responses
from .simulated import simulate_brain
from .subjects import Subjects

__all__ = ["simulate_subjects", "SimulatedSubjects"]

_SNR_SPREAD = 0.5  # sd of log per-voxel SNR around a subject's median
_SUBJECT_SNR_SPREAD = 0.3  # sd of log median SNR across subjects when one snr is given


@dataclass
class SimulatedSubjects:
    """Simulated subjects and everything planted in them (see :func:`simulate_subjects`).

    Attributes
    ----------
    subjects : Subjects
        Each subject's responses ``("stimulus", "voxel")`` (signal + noise) to the stimuli it saw, with
        ``stimulus_id``, per voxel ``roi``, ``subject`` and ``x/y/z`` coordinates.
    shared_latent : xarray.DataArray
        ``("stimulus", "component")`` the latent response of every stimulus (zero mean, unit variance
        per component), with ``stimulus_id`` and, per component, ``roi``.
    maps : dict of str to xarray.DataArray
        Per subject, ``("component", "voxel")``: the noise-free responses are exactly
        ``shared_latent @ maps[subject]`` (zero where the component's ROI, coordinate
        ``component_roi``, is not the voxel's ``roi``).
    noise_sd : dict of str to xarray.DataArray
        Per subject, ``("voxel",)`` the noise standard deviation (the signal has unit variance).
    latent_weights : dict of str to xarray.DataArray
        The latent components' planted tuning to the features (``true_weights`` of the
        :class:`~neuroperception.data.SimulatedBrain` that made them, components as voxels).
    shared_stimuli : list of str
        The ids every subject saw.
    settings : dict
        The arguments that made it.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> f = xr.DataArray(np.random.default_rng(0).standard_normal((40, 10)), dims=("stimulus", "feature"))
    >>> sim = simulate_subjects(f, n_subjects=2, n_voxels=[30, 50], n_components=6, random_state=0)
    >>> s = sim.subjects["subj02"]
    >>> latent = sim.shared_latent.sel(stimulus=sim.shared_latent["stimulus_id"].isin(s["stimulus_id"]))
    >>> signal = latent.values @ sim.maps["subj02"].values
    >>> residual = s.values - signal
    >>> bool(abs(residual.std(0) / sim.noise_sd["subj02"].values - 1).mean() < 0.3)
    True
    """

    subjects: Subjects
    shared_latent: xr.DataArray
    maps: dict[str, xr.DataArray]
    noise_sd: dict[str, xr.DataArray]
    latent_weights: dict[str, xr.DataArray]
    shared_stimuli: list[str]
    settings: dict[str, Any] = field(default_factory=dict)


def _per_subject(value: Any, n: int, name: str, kind: type) -> list | None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | np.ndarray):
        return None
    items = list(value)
    if len(items) != n:
        raise InputError(f"{name}: received {len(items)} values; expected one per subject ({n}) or a single {kind.__name__}")
    return items


@fill_doc
def simulate_subjects(
    features: Any,
    n_subjects: int = 4,
    n_voxels: int | Sequence[int] = 300,
    n_components: int = 12,
    snr: float | Sequence[float] = 1.0,
    shared: float = 0.5,
    rois: Sequence[str] | None = None,
    random_state: int | np.random.Generator | None = 0,
) -> SimulatedSubjects:
    """Simulate several subjects that share tuning in a latent space but differ in everything else.

    1. **Shared latent**: :func:`~neuroperception.data.simulate_brain` on ``features`` with
       ``n_voxels=n_components``; its noise-free standardised signal is the latent response
       ``(stimulus, component)``, each component tuned to a sparse set of features and belonging to
       one ROI (components split evenly over ``rois``).
    2. **Subjects**: each gets its own voxel count, its own ROI sizes (proportions drawn from a
       Dirichlet distribution, at least one voxel per ROI), voxels placed in the template like
       :func:`~neuroperception.data.simulate_brain`'s, and a Gaussian map from the latent components
       of each voxel's ROI to the voxel, scaled so that every voxel's signal has unit variance over
       all stimuli.
    3. **Noise**: Gaussian, with a per-voxel SNR (signal sd / noise sd) that varies log-normally
       around the subject's median; one ``snr`` gives subjects medians spread log-normally around it.
    4. **Stimuli**: a fraction ``shared`` of the stimuli (drawn at random) is seen by every subject;
       each other stimulus is seen by one subject only (dealt out at random, as evenly as possible).

    Parameters
    ----------
    features : xarray.DataArray, numpy.ndarray or dict of str to DataArray
        As for :func:`~neuroperception.data.simulate_brain`; their ``stimulus_id`` (or ``stim0000``...)
        names the stimuli.
    n_subjects : int
        How many subjects (named ``subj01``, ``subj02``...).
    n_voxels : int or sequence of int
        One int: the mean voxel count; each subject draws its own within ±30% of it. A sequence: each
        subject's voxel count.
    n_components : int
        Dimension of the shared latent space (at least one component per ROI).
    snr : float or sequence of float
        Median single-trial SNR: one value (subjects spread around it) or one per subject.
    shared : float
        Fraction of the stimuli every subject sees, in ``(0, 1]``.
    rois : sequence of str, optional
        ROI names from :data:`ROI_PLACEMENT`; default ``("V1", "V4", "IT")``.
    %(random_state)s
        ``settings["random_state"]`` records the seed (for a Generator or None, the one drawn from it).

    Returns
    -------
    SimulatedSubjects

    Raises
    ------
    InputError
        Out-of-range counts, fractions or SNRs, per-subject sequences of the wrong length, fewer
        components than ROIs, or fewer shared stimuli than two.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> f = xr.DataArray(np.random.default_rng(0).standard_normal((60, 12)), dims=("stimulus", "feature"))
    >>> sim = simulate_subjects(f, n_subjects=3, n_voxels=[40, 60, 50], shared=0.5, random_state=0)
    >>> {s: r.shape for s, r in sim.subjects.items()}
    {'subj01': (40, 40), 'subj02': (40, 60), 'subj03': (40, 50)}
    >>> len(sim.shared_stimuli), sim.shared_latent.dims
    (30, ('stimulus', 'component'))
    """
    if isinstance(n_subjects, bool) or not isinstance(n_subjects, (int, np.integer)) or n_subjects < 1:
        raise InputError(f"n_subjects: received {n_subjects!r}; expected a positive int")
    n_subjects = int(n_subjects)
    rois = ("V1", "V4", "IT") if rois is None else ([rois] if isinstance(rois, str) else list(rois))
    rois = [str(r) for r in rois]
    unknown = [r for r in rois if r not in ROI_PLACEMENT]
    if not rois or unknown or len(set(rois)) != len(rois):
        raise InputError(f"rois: received {rois!r}; expected distinct names among {list(ROI_PLACEMENT)}")
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < len(rois):
        raise InputError(f"n_components: received {n_components!r}; expected an int >= the number of ROIs "
                         f"({len(rois)})")
    if isinstance(shared, bool) or not isinstance(shared, (int, float, np.number)) or not 0 < shared <= 1:
        raise InputError(f"shared: received {shared!r}; expected a fraction in (0, 1]")
    counts = _per_subject(n_voxels, n_subjects, "n_voxels", int)
    snrs = _per_subject(snr, n_subjects, "snr", float)
    for name, value in (("n_voxels", counts if counts is not None else [n_voxels]),):
        if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < len(rois) for v in value):
            raise InputError(f"{name}: received {n_voxels!r}; expected ints >= the number of ROIs ({len(rois)})")
    for v in snrs if snrs is not None else [snr]:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v) or v <= 0:
            raise InputError(f"snr: received {snr!r}; expected positive numbers (median signal sd / noise sd)")

    seed = seed_from(random_state)
    seeds = np.random.SeedSequence([seed, 24]).spawn(n_subjects + 2)
    template = simulate_brain(features, n_voxels=int(n_components), snr=1.0, n_repeats=1, rois=rois,
                              random_state=seed)
    latent = template.signal.rename(voxel="component").drop_vars(["x", "y", "z"], errors="ignore")
    latent.name = "shared latent"
    ids = np.asarray(latent["stimulus_id"].values).astype(str).tolist()
    n_stim = len(ids)
    rng = np.random.default_rng(seeds[0])
    n_shared = int(round(float(shared) * n_stim))
    if n_shared < 2:
        raise InputError(f"shared: received {shared!r} of {n_stim} stimuli ({n_shared} shared); expected at least "
                         "2 stimuli seen by every subject")
    order = rng.permutation(n_stim)
    shared_set = set(order[:n_shared].tolist())
    owner = np.full(n_stim, -1)
    rest = order[n_shared:]
    owner[rest] = rng.permutation(np.arange(rest.size) % n_subjects)
    if counts is None:
        counts = [max(len(rois), int(round(n_voxels * f))) for f in rng.uniform(0.7, 1.3, n_subjects)]
    if snrs is None:
        snrs = (float(snr) * np.exp(_SUBJECT_SNR_SPREAD * rng.standard_normal(n_subjects))).tolist()

    component_roi = np.asarray(latent["roi"].values).astype(str)
    z = latent.values
    responses, maps, noise = {}, {}, {}
    for k in range(n_subjects):
        name = f"subj{k + 1:02d}"
        srng = np.random.default_rng(seeds[k + 1])
        n_vox = int(counts[k])
        props = srng.dirichlet(np.full(len(rois), 8.0))
        per_roi = np.ones(len(rois), dtype=int) + np.floor(props * (n_vox - len(rois))).astype(int)
        per_roi[np.argsort(-props)[: n_vox - per_roi.sum()]] += 1
        xyz, _, _, labels, _ = _place(rois, int(per_roi.max()) * len(rois), "volume", srng)
        keep = np.concatenate([np.sort(srng.choice(np.flatnonzero(labels == r), size=c, replace=False))
                               for r, c in zip(rois, per_roi)])
        xyz, labels = xyz[keep], labels[keep]
        mask = labels[None, :] == component_roi[:, None]  # (component, voxel): a voxel reads its own ROI
        m = srng.standard_normal((len(component_roi), n_vox)) * mask
        signal = z @ m
        sd = signal.std(0)
        m /= sd
        signal /= sd
        voxel_snr = np.exp(_SNR_SPREAD * srng.standard_normal(n_vox))
        voxel_snr *= float(snrs[k]) / np.median(voxel_snr)
        sigma = 1.0 / voxel_snr
        seen = np.array([(i in shared_set) or owner[i] == k for i in range(n_stim)])
        values = signal[seen] + srng.standard_normal((int(seen.sum()), n_vox)) * sigma
        attrs = {"source": "neuroperception.data.simulate_subjects", "snr": float(snrs[k]), "random_state": seed}
        responses[name] = make_responses(values.astype(np.float32), [ids[i] for i in np.flatnonzero(seen)],
                                         roi=labels, subject=name, xyz=xyz, attrs=attrs)
        vcoords = {c: responses[name][c] for c in ("roi", "subject", "x", "y", "z")}
        maps[name] = xr.DataArray(m, dims=("component", "voxel"),
                                  coords={"component_roi": ("component", component_roi), **vcoords},
                                  name=f"map {name}")
        noise[name] = xr.DataArray(sigma, dims="voxel", coords=vcoords, name=f"noise sd {name}")
    weights = {layer: w.rename(voxel="component").drop_vars(["x", "y", "z"], errors="ignore")
               for layer, w in template.true_weights.items()}
    settings = {"n_subjects": n_subjects, "n_voxels": [int(c) for c in counts], "n_components": int(n_components),
                "snr": [float(s) for s in snrs], "shared": float(shared), "rois": ",".join(rois),
                "random_state": seed}
    return SimulatedSubjects(subjects=Subjects(responses), shared_latent=latent, maps=maps, noise_sd=noise,
                             latent_weights=weights, shared_stimuli=[ids[i] for i in range(n_stim) if i in shared_set],
                             settings=settings)
