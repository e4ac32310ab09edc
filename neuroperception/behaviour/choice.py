"""Choice models for triplet experiments: simulated observers and a logistic model with bootstrap CIs.

Sign convention (used everywhere in this module): ``delta_low = d_low_a - d_low_b`` and
``delta_high = d_high_a - d_high_b`` are differences of *distances* from the reference, so a negative
delta means option A is the closer one at that level. An observer who relies on a level chooses A
more often when its delta is negative. Weights are reported so that a **positive weight means "closer
at this level makes an option more likely to be chosen"**.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd

from .._docs import fill_doc
from .._validation import check_random_state
from ..errors import AlignmentError, InputError

__all__ = ["simulate_observers", "fit_choice_model"]

_DELTAS = ("delta_low", "delta_high")
_TERMS = ("intercept", "low", "high")


def _check_table(table, columns, name: str) -> pd.DataFrame:
    """Check that ``table`` is a non-empty DataFrame holding ``columns``."""
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{name}: received {type(table).__name__}; expected a pandas DataFrame with columns "
                         f"{list(columns)}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{name}: received columns {list(table.columns)}; missing {missing} "
                         f"(expected at least {list(columns)})")
    if len(table) == 0:
        raise InputError(f"{name}: received an empty table; expected at least one row")
    return table


def _check_triplet_ids(table: pd.DataFrame, name: str) -> np.ndarray:
    ids = pd.to_numeric(table["triplet"], errors="coerce").to_numpy()
    if np.isnan(ids.astype(float)).any() or not np.all(np.mod(ids, 1) == 0):
        raise InputError(f"{name}.triplet: received non-integer values (e.g. "
                         f"{table['triplet'].iloc[:3].tolist()}); expected integer triplet numbers")
    ids = ids.astype(np.int64)
    dup = pd.Series(ids)[pd.Series(ids).duplicated()].unique()
    if dup.size:
        raise AlignmentError(f"{name}.triplet: received {dup.size} duplicated triplet numbers, e.g. "
                             f"{dup[:5].tolist()}; expected one row per triplet")
    return ids


def _deltas(triplets: pd.DataFrame, name: str = "triplets") -> tuple[np.ndarray, np.ndarray]:
    _check_table(triplets, ("triplet",) + _DELTAS, name)
    ids = _check_triplet_ids(triplets, name)
    d = triplets[list(_DELTAS)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(d).all():
        raise InputError(f"{name}: received {int((~np.isfinite(d)).sum())} missing or non-finite values in "
                         "delta_low/delta_high; expected finite distance differences")
    return ids, d


def _check_number(value, name: str, *, positive: bool = False, unit: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        raise InputError(f"{name}: received {value!r}; expected a finite number")
    if positive and value <= 0:
        raise InputError(f"{name}: received {value!r}; expected a number > 0")
    if unit and not 0 <= value <= 1:
        raise InputError(f"{name}: received {value!r}; expected a number in [0, 1]")
    return float(value)


def _check_count(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name}: received {value!r}; expected an int >= {minimum}")
    return int(value)


@fill_doc
def simulate_observers(triplets: pd.DataFrame, w_low: float, w_high: float, *, n_observers: int = 10,
                       noise: float = 1.0, bias: float = 0.0, lapse: float = 0.0,
                       random_state: int | np.random.Generator | None = 0) -> pd.DataFrame:
    """Simulate observers who weigh low- and high-level distance when choosing in a triplet.

    Every observer answers every triplet once and chooses option A with probability
    ``lapse / 2 + (1 - lapse) * sigmoid((bias - (w_low * delta_low + w_high * delta_high)) / noise)``.
    A negative delta means A is closer to the reference at that level, so with positive weights the
    closer option is the likelier choice.

    Parameters
    ----------
    triplets : pandas.DataFrame
        A triplet table with ``triplet``, ``delta_low`` and ``delta_high`` columns.
    w_low, w_high : float
        Planted weights on the low- and high-level distance differences (in distance units).
    n_observers : int
        Number of simulated observers (participants ``sim000``, ``sim001``, ...).
    noise : float
        Decision noise (temperature of the logistic); larger is more random.
    bias : float
        Log-odds of choosing A when both levels are tied (0: no side bias).
    lapse : float
        Probability in ``[0, 1]`` of a random answer.
    %(random_state)s

    Returns
    -------
    pandas.DataFrame
        One row per (observer, triplet): ``participant``, ``triplet``, ``choice`` (``"A"`` or ``"B"``),
        ``chose_a`` (1.0 or 0.0) and ``p_a``, the planted probability of choosing A.

    Raises
    ------
    InputError
        Missing columns, non-finite deltas or weights, ``noise <= 0``, ``lapse`` outside ``[0, 1]``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"triplet": [0, 1], "delta_low": [-0.5, 0.5], "delta_high": [0.2, 0.0]})
    >>> r = simulate_observers(t, w_low=4.0, w_high=0.0, n_observers=3, random_state=0)
    >>> r.shape, r["p_a"].round(3).tolist()[:2]
    ((6, 5), [0.881, 0.119])
    """
    ids, d = _deltas(triplets)
    w = np.array([_check_number(w_low, "w_low"), _check_number(w_high, "w_high")])
    noise = _check_number(noise, "noise", positive=True)
    bias = _check_number(bias, "bias")
    lapse = _check_number(lapse, "lapse", unit=True)
    n_observers = _check_count(n_observers, "n_observers")
    p_a = lapse / 2 + (1 - lapse) / (1 + np.exp(-(bias - d @ w) / noise))
    rng = check_random_state(random_state)
    chose = rng.random((n_observers, len(ids))) < p_a
    width = max(3, len(str(n_observers - 1)))
    return pd.DataFrame({
        "participant": np.repeat([f"sim{k:0{width}d}" for k in range(n_observers)], len(ids)),
        "triplet": np.tile(ids, n_observers),
        "choice": np.where(chose.ravel(), "A", "B"),
        "chose_a": chose.ravel().astype(float),
        "p_a": np.tile(p_a, n_observers),
    })


def _chose_a(responses: pd.DataFrame) -> np.ndarray:
    """1/0/NaN per response, from ``chose_a`` or else from ``choice`` ("A"/"B"/empty)."""
    if "chose_a" in responses.columns:
        y = pd.to_numeric(responses["chose_a"], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isnan(y) & ~np.isin(y, (0.0, 1.0))
        if bad.any():
            raise InputError(f"responses.chose_a: received values {np.unique(y[bad])[:5].tolist()}; expected 1 "
                             "(chose A), 0 (chose B) or missing")
        return y
    if "choice" not in responses.columns:
        raise InputError(f"responses: received columns {list(responses.columns)}; expected a 'choice' column "
                         "('A'/'B') or a 'chose_a' column (1/0)")
    text = responses["choice"].astype("string").str.strip().str.upper().fillna("")
    bad = ~text.isin(["A", "B", ""])
    if bad.any():
        raise InputError(f"responses.choice: received values {sorted(set(text[bad]))[:5]}; expected 'A', 'B' "
                         "or empty (no choice)")
    return np.where(text == "A", 1.0, np.where(text == "B", 0.0, np.nan))


def _design(triplets: pd.DataFrame, responses: pd.DataFrame):
    ids, d = _deltas(triplets)
    _check_table(responses, ("triplet",), "responses")
    y = _chose_a(responses)
    r_ids = pd.to_numeric(responses["triplet"], errors="coerce").to_numpy(dtype=float)
    pos = {int(t): k for k, t in enumerate(ids)}
    unknown = sorted({v for v in r_ids.tolist() if not (np.isfinite(v) and int(v) in pos and v == int(v))},
                     key=str)
    if unknown:
        raise AlignmentError(f"responses.triplet: received {len(unknown)} triplet numbers that are not in "
                             f"triplets, e.g. {unknown[:5]}; expected responses to the given triplet table")
    row = np.array([pos[int(v)] for v in r_ids], dtype=np.int64)
    if "participant" in responses.columns:
        part_codes, part_names = pd.factorize(responses["participant"].astype("string").fillna(""))
    else:
        part_codes, part_names = np.zeros(len(responses), dtype=np.int64), np.array([""])
    keep = ~np.isnan(y)
    if not keep.any():
        raise InputError("responses: received no A/B choice at all (every choice is missing); expected at least "
                         "one response")
    return d, row[keep], np.asarray(part_codes)[keep], len(part_names), y[keep], int((~keep).sum())


def _newton_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float, max_iter: int = 100,
                     tol: float = 1e-10) -> np.ndarray:
    """Penalised logistic regression by damped Newton steps, for a batch of row weightings.

    ``x`` is ``(N, P)`` with an intercept column first (not penalised), ``y`` ``(N,)`` in {0, 1},
    ``w`` ``(B, N)`` non-negative row weights (bootstrap counts). Returns ``(B, P)`` coefficients
    minimising ``-sum w log-likelihood + l2 / 2 * |beta[1:]|^2``.
    """
    n_par = x.shape[1]
    beta = np.zeros((w.shape[0], n_par))
    pen = np.full(n_par, l2)
    pen[0] = 0.0
    xx = (x[:, :, None] * x[:, None, :]).reshape(len(x), -1)
    for _ in range(max_iter):
        eta = beta @ x.T
        p = 0.5 * (1 + np.tanh(0.5 * eta))  # sigmoid without overflow
        grad = (w * (y - p)) @ x - pen * beta
        hess = ((w * p * (1 - p)) @ xx).reshape(-1, n_par, n_par) + np.diag(pen) + 1e-12 * np.eye(n_par)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        big = np.abs(step).max(axis=1, keepdims=True)
        step *= np.minimum(1.0, 4.0 / np.maximum(big, 1e-300))  # damp overshooting steps
        beta += step
        if np.abs(step).max() < tol:
            break
    return beta


@fill_doc
def fit_choice_model(triplets: pd.DataFrame, responses: pd.DataFrame, *, n_bootstrap: int = 1000,
                     resample: str = "both", ci: float = 0.95, l2: float = 1e-2,
                     random_state: int | np.random.Generator | None = 0,
                     return_bootstrap: bool = False):
    """Logistic regression of choices on the low- and high-level distance differences, with bootstrap CIs.

    The model is ``P(choose A) = sigmoid(b0 - b_low * delta_low / s_low - b_high * delta_high / s_high)``
    where ``s_low``, ``s_high`` are the standard deviations of the deltas over the triplet table, so
    ``b_low`` and ``b_high`` are *standardised* weights (change in log-odds per standard deviation of
    distance difference) and a positive weight means the option closer at that level is chosen more.
    ``high_share = b_high / (|b_low| + |b_high|)`` summarises which level drives the choices (1: only the
    high level, 0: only the low level, negative: the high level is used the wrong way round).

    Parameters
    ----------
    triplets : pandas.DataFrame
        The triplet table (``triplet``, ``delta_low``, ``delta_high``).
    responses : pandas.DataFrame
        One row per response: ``triplet`` and ``chose_a`` (1/0) or ``choice`` (``"A"``/``"B"``);
        ``participant`` when several observers answered. Missing choices (e.g. the reference picked
        as the odd one out) are dropped and counted in ``attrs["n_missing"]``.
    n_bootstrap : int
        Bootstrap resamples for the confidence intervals (0: no intervals).
    resample : {"both", "trials", "participants"}
        What is resampled with replacement: triplets (all responses to a triplet move together),
        participants, or both crossed (each response weighted by its participant's count times its
        triplet's count; conservative when both vary).
    ci : float
        Confidence level of the percentile intervals.
    l2 : float
        Ridge penalty on the two standardised weights (not the intercept); the small default keeps
        the fit finite when choices are perfectly separable and is negligible otherwise.
    %(random_state)s
        It draws the bootstrap.
    return_bootstrap : bool
        Also return the bootstrap estimates.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``term``: rows ``intercept``, ``low``, ``high``, ``high_share`` (so
        ``fit.loc["high_share", "estimate"]``), with columns ``estimate``,
        ``ci_low``, ``ci_high`` (standardised) and ``estimate_raw``, ``ci_low_raw``, ``ci_high_raw``
        (per unit of distance difference: for simulated observers these estimate ``w / noise``).
        ``attrs`` hold ``n_responses``, ``n_triplets``, ``n_participants``, ``n_missing``, ``sd_low``,
        ``sd_high``, ``log_likelihood``, ``accuracy`` (choices the fitted model predicts), ``ci``,
        ``n_bootstrap`` and ``resample``.
    pandas.DataFrame, optional
        With ``return_bootstrap=True``: one row per resample, the ``estimate`` and ``estimate_raw``
        values of each term.

    Raises
    ------
    InputError
        Missing columns, invalid choices, bad ``n_bootstrap``/``resample``/``ci``/``l2``, a delta with
        no variance.
    AlignmentError
        Responses to triplets that are not in the table, or duplicated triplet numbers.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> t = pd.DataFrame({"triplet": range(200), "delta_low": rng.normal(0, .1, 200),
    ...                   "delta_high": rng.normal(0, .1, 200)})
    >>> r = simulate_observers(t, w_low=0.0, w_high=30.0, n_observers=5, random_state=1)
    >>> fit = fit_choice_model(t, r, n_bootstrap=200)
    >>> fit.round(2).loc["high_share", ["estimate", "ci_low", "ci_high"]].tolist()
    [0.98, 0.89, 1.0]
    """
    n_bootstrap = _check_count(n_bootstrap, "n_bootstrap", minimum=0)
    if resample not in ("both", "trials", "participants"):
        raise InputError(f"resample: received {resample!r}; expected 'both', 'trials' or 'participants'")
    ci = _check_number(ci, "ci", unit=True)
    if not 0 < ci < 1:
        raise InputError(f"ci: received {ci!r}; expected a confidence level strictly between 0 and 1")
    l2 = _check_number(l2, "l2")
    if l2 < 0:
        raise InputError(f"l2: received {l2!r}; expected a penalty >= 0")
    rng = check_random_state(random_state)
    d, row, part, n_part, y, n_missing = _design(triplets, responses)
    sd = d.std(axis=0)
    flat = [n for n, s, m in zip(_DELTAS, sd, np.abs(d).max(axis=0)) if not s > 1e-12 * max(m, 1e-300)]
    if flat:
        raise InputError(f"triplets: {flat} has no variance over the {len(d)} triplets; expected triplets whose "
                         "distance differences vary, so that their weight can be estimated")
    x = np.column_stack([np.ones(len(row)), -d[row] / sd])
    scale = np.array([1.0, *(1.0 / sd)])
    beta = _newton_logistic(x, y, np.ones((1, len(y))), l2)
    eta = x @ beta[0]
    loglik = float(np.sum(y * eta - np.logaddexp(0, eta)))
    accuracy = float(np.mean((eta > 0) == (y == 1)))
    boot = np.full((n_bootstrap, 3), np.nan)
    if n_bootstrap:
        n_trip = len(d)
        chunk = max(1, int(4e6 // max(len(y), 1)))
        for lo in range(0, n_bootstrap, chunk):
            b = min(chunk, n_bootstrap - lo)
            weights = np.ones((b, len(y)))
            if resample in ("both", "trials"):
                counts = np.stack([np.bincount(rng.integers(0, n_trip, n_trip), minlength=n_trip) for _ in range(b)])
                weights *= counts[:, row]
            if resample in ("both", "participants"):
                counts = np.stack([np.bincount(rng.integers(0, n_part, n_part), minlength=n_part) for _ in range(b)])
                weights *= counts[:, part]
            boot[lo:lo + b] = _newton_logistic(x, y, weights, l2)
    table = _summary(beta[0], boot, scale, ci)
    table.attrs.update({"n_responses": int(len(y)), "n_triplets": int(len(np.unique(row))),
                        "n_participants": int(len(np.unique(part))), "n_missing": n_missing,
                        "sd_low": float(sd[0]), "sd_high": float(sd[1]), "log_likelihood": loglik,
                        "accuracy": accuracy, "ci": ci, "n_bootstrap": n_bootstrap, "resample": resample})
    if not return_bootstrap:
        return table
    cols = {}
    for k, term in enumerate(_TERMS):
        cols[f"{term}_estimate"] = boot[:, k]
    cols["high_share_estimate"] = _share(boot)
    for k, term in enumerate(_TERMS):
        cols[f"{term}_estimate_raw"] = boot[:, k] * scale[k]
    cols["high_share_estimate_raw"] = _share(boot * scale)
    return table, pd.DataFrame(cols)


def _share(coef: np.ndarray) -> np.ndarray:
    total = np.abs(coef[..., 1]) + np.abs(coef[..., 2])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, coef[..., 2] / np.where(total > 0, total, 1.0), np.nan)


def _summary(beta: np.ndarray, boot: np.ndarray, scale: np.ndarray, ci: float) -> pd.DataFrame:
    q = [(1 - ci) / 2 * 100, (1 + ci) / 2 * 100]
    rows = []
    for raw in (False, True):
        s = scale if raw else np.ones_like(scale)
        est = np.append(beta * s, _share(beta * s))
        samples = np.column_stack([boot * s, _share(boot * s)])
        if len(samples):
            lo, hi = np.nanpercentile(samples, q, axis=0)
        else:
            lo = hi = np.full(4, np.nan)
        rows.append((est, lo, hi))
    (est, lo, hi), (est_r, lo_r, hi_r) = rows
    return pd.DataFrame({"estimate": est, "ci_low": lo, "ci_high": hi, "estimate_raw": est_r, "ci_low_raw": lo_r,
                         "ci_high_raw": hi_r}, index=pd.Index(list(_TERMS) + ["high_share"], name="term"))
