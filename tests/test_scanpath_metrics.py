"""Scanpath metrics: MultiMatch against multimatch-gaze, hand-computed and naive-reference cases for the
metrics without a reference package, pairwise batching, invariances and errors."""

import warnings

import numpy as np
import pytest
import xarray as xr

from neuroperception.errors import InputError
from neuroperception.scanpaths import Scanpaths
from neuroperception.scanpaths.scanpath_metrics import (MULTIMATCH_DIMENSIONS, dtw, multimatch,
                                                        pairwise_scanpath_scores, sbtde, scanmatch,
                                                        scanmatch_substitution_matrix, sequence_score,
                                                        string_edit_distance)

mg = pytest.importorskip("multimatch_gaze")
SCREEN = (768, 1024)                                             # (height, width)
GROUPING = dict(amplitude_threshold=150.0, direction_threshold=45.0, duration_threshold=0.2)


def _record(path):
    rec = np.zeros(len(path), dtype=[("start_x", "f8"), ("start_y", "f8"), ("duration", "f8")])
    rec["start_x"], rec["start_y"], rec["duration"] = path[:, 0], path[:, 1], path[:, 2]
    return rec


def _reference(a, b, grouping):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(mg.docomparison(_record(a), _record(b), screensize=[SCREEN[1], SCREEN[0]], grouping=grouping,
                                          TDir=45.0, TDur=0.2, TAmp=150.0))


@pytest.fixture(scope="module")
def paths():
    rng = np.random.default_rng(5)
    return [np.c_[rng.uniform(0, 1024, n), rng.uniform(0, 768, n), rng.uniform(0.05, 0.5, n)]
            for n in rng.integers(3, 14, 14)]


# -- MultiMatch --------------------------------------------------------------------------------------
@pytest.mark.parametrize("grouping", [False, True])
def test_multimatch_equals_multimatch_gaze(paths, grouping):
    kwargs = GROUPING if grouping else {}
    matrix = pairwise_scanpath_scores(paths, metric="multimatch", size=SCREEN, **kwargs)
    assert matrix.shape == (len(paths), len(paths), 5)
    for i in range(len(paths)):
        for j in range(len(paths)):
            np.testing.assert_allclose(matrix[i, j], _reference(paths[i], paths[j], grouping), atol=1e-6)
    np.testing.assert_allclose(multimatch(paths[0], paths[1], SCREEN, **kwargs), matrix[0, 1], atol=1e-12)


def test_multimatch_simplification_changes_scores(paths):
    plain = pairwise_scanpath_scores(paths, metric="multimatch", size=SCREEN)
    grouped = pairwise_scanpath_scores(paths, metric="multimatch", size=SCREEN, **GROUPING)
    assert np.mean(np.abs(plain - grouped) > 1e-9) > 0.3          # the thresholds really merge saccades


def test_multimatch_folds_a_short_last_saccade_as_multimatch_gaze(paths):
    # the last saccade (54 px, fixation 0.1) is folded into the previous one by the amplitude pass
    a = np.array([[100, 100, 0.3], [600, 100, 0.3], [600, 600, 0.3], [650, 620, 0.1]])
    b = np.array([[120, 90, 0.25], [580, 140, 0.35], [620, 560, 0.3], [700, 500, 0.2], [900, 300, 0.3]])
    grouped = multimatch(a, b, SCREEN, **GROUPING)
    np.testing.assert_allclose(grouped, _reference(a, b, True), atol=1e-6)
    assert np.abs(grouped - multimatch(a, b, SCREEN)).max() > 1e-3
    for other in paths[:6]:
        np.testing.assert_allclose(multimatch(a, other, SCREEN, **GROUPING), _reference(a, other, True), atol=1e-6)


def test_multimatch_identity_short_paths_and_missing_durations(paths):
    np.testing.assert_allclose(multimatch(paths[0], paths[0], SCREEN), np.ones(5), atol=1e-12)
    assert np.isnan(multimatch(paths[0][:2], paths[1], SCREEN)).all()
    no_duration = multimatch(paths[0][:, :2], paths[1][:, :2], SCREEN)
    np.testing.assert_allclose(no_duration[:4], multimatch(paths[0], paths[1], SCREEN)[:4], atol=1e-12)
    assert np.isnan(no_duration[4])
    with pytest.raises(InputError, match="durations"):
        multimatch(paths[0][:, :2], paths[1][:, :2], SCREEN, **GROUPING)


# -- DTW, edit distance, ScanMatch, sequence score, SBTDE: hand cases and naive references ----------
def _naive_table(n, m, init, step):
    table = np.zeros((n + 1, m + 1))
    for i in range(n + 1):
        for j in range(m + 1):
            table[i, j] = init(i, j) if i == 0 or j == 0 else step(table, i, j)
    return table


def _naive_dtw(a, b):
    d = np.linalg.norm(a[:, None, :2] - b[None, :, :2], axis=-1)
    t = _naive_table(len(a), len(b), lambda i, j: 0.0 if i == j == 0 else np.inf,
                     lambda t, i, j: d[i - 1, j - 1] + min(t[i - 1, j], t[i, j - 1], t[i - 1, j - 1]))
    return t[-1, -1]


def _naive_levenshtein(s, t):
    table = _naive_table(len(s), len(t), lambda i, j: i + j,
                         lambda tb, i, j: min(tb[i - 1, j] + 1, tb[i, j - 1] + 1,
                                              tb[i - 1, j - 1] + (s[i - 1] != t[j - 1])))
    return table[-1, -1]


def _naive_nw(s, t, score, gap):
    table = _naive_table(len(s), len(t), lambda i, j: gap * (i + j),
                         lambda tb, i, j: max(tb[i - 1, j] + gap, tb[i, j - 1] + gap,
                                              tb[i - 1, j - 1] + score(s[i - 1], t[j - 1])))
    return table[-1, -1]


def _cells(path, rows, cols, h, w):
    return [int(y * rows // h) * cols + int(x * cols // w) for x, y in path[:, :2]]


def test_dtw_hand_cases_and_naive_reference(paths):
    assert dtw(np.array([[0, 0], [10, 0]]), np.array([[0, 0], [0, 0], [10, 0]])) == 0.0
    assert dtw(np.array([[0, 0]]), np.array([[3, 4], [6, 8]])) == 15.0
    matrix = pairwise_scanpath_scores(paths[:8], paths[4:], metric="dtw")
    for i in range(8):
        for j in range(len(paths) - 4):
            assert matrix[i, j] == pytest.approx(_naive_dtw(paths[i], paths[4 + j]), abs=1e-9)
    np.testing.assert_allclose(np.diag(pairwise_scanpath_scores(paths, metric="dtw")), 0.0)


def test_string_edit_distance_hand_case_and_naive_reference(paths):
    # on a 2 x 2 grid over 100 x 100: regions 0 1 3 against 0 3 -> one deletion
    a = np.array([[10, 10], [90, 10], [90, 90]])
    assert string_edit_distance(a, a[[0, 2]], grid=(2, 2), size=(100, 100), normalize=False) == 1.0
    assert string_edit_distance(a, a[[0, 2]], grid=(2, 2), size=(100, 100)) == pytest.approx(1 / 3)
    assert string_edit_distance(a, a[::-1], grid=(2, 2), size=(100, 100), normalize=False) == 2.0
    matrix = pairwise_scanpath_scores(paths, metric="string_edit_distance", grid=(3, 4), size=SCREEN,
                                      normalize=False)
    cells = [_cells(p, 3, 4, *SCREEN) for p in paths]
    for i in range(len(paths)):
        for j in range(len(paths)):
            assert matrix[i, j] == _naive_levenshtein(cells[i], cells[j])


def test_scanmatch_hand_cases_and_naive_reference(paths):
    sub = scanmatch_substitution_matrix((2, 3), 2.0)
    # Cristino et al.'s construction: |D - max D| - (max D - threshold)
    r, c = np.divmod(np.arange(6), 3)
    dist = np.hypot(r[:, None] - r[None], c[:, None] - c[None])
    np.testing.assert_allclose(sub, np.abs(dist - dist.max()) - (dist.max() - 2.0))
    a = np.array([[10, 10, 100], [90, 10, 50]])                     # regions 0, 1 on a 1 x 2 grid
    b = np.array([[10, 10, 50], [90, 10, 100]])
    # temporal binning at 50 -> "0 0 1" against "0 1 1": 2 + 1 + 2 (threshold 2, distance 1) out of 2 * 3
    assert scanmatch(a, b, (20, 100), grid=(1, 2), threshold=2.0, temporal_bin=50) == pytest.approx(5 / 6)
    assert scanmatch(a, b, (20, 100), grid=(1, 2), threshold=2.0) == 1.0
    assert scanmatch(a, a[::-1], (20, 100), grid=(1, 2), threshold=2.0, gap=-1.0) == pytest.approx(0.5)
    full = scanmatch_substitution_matrix((3, 4), 2.5)
    matrix = pairwise_scanpath_scores(paths, metric="scanmatch", grid=(3, 4), threshold=2.5, gap=-0.5,
                                      temporal_bin=0.1, size=SCREEN)
    seqs = [np.repeat(_cells(p, 3, 4, *SCREEN), np.floor(p[:, 2] / 0.1 + 0.5).astype(int)) for p in paths]
    for i in range(0, len(paths), 3):
        for j in range(len(paths)):
            expected = _naive_nw(seqs[i], seqs[j], lambda x, y: full[x, y], -0.5) / (2.5 * max(len(seqs[i]),
                                                                                                  len(seqs[j])))
            assert matrix[i, j] == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(np.diag(matrix), 1.0)


def test_sequence_score_hand_case_centres_and_naive_reference(paths):
    a = np.array([[10, 10], [90, 10], [90, 90]])
    assert sequence_score(a, a[[0, 2]], grid=(2, 2), size=(100, 100)) == pytest.approx(2 / 3)
    centres = np.array([[0, 0], [100, 100]])
    # nearest centres: 0, (tie) 0, 1 against 1, 0, 0 -> the two 0s align
    assert sequence_score(a, a[::-1], centers=centres) == pytest.approx(2 / 3)
    assert sequence_score(a[[2]], a[:2], centers=centres) == 0.0
    matrix = pairwise_scanpath_scores(paths, metric="sequence_score", grid=(2, 3), size=SCREEN)
    cells = [_cells(p, 2, 3, *SCREEN) for p in paths]
    for i in range(len(paths)):
        for j in range(len(paths)):
            expected = _naive_nw(cells[i], cells[j], lambda x, y: float(x == y), 0.0) / max(len(cells[i]),
                                                                                            len(cells[j]))
            assert matrix[i, j] == pytest.approx(expected, abs=1e-12)


def test_sbtde_hand_cases_and_naive_reference(paths):
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
    assert sbtde(square[1:], square, k=2) == 0.0
    assert sbtde(square + [3, 4], square, k=1) == 5.0
    assert sbtde(square + [3, 4], square, k=1, mode="hausdorff") == 5.0
    k = 3
    matrix = pairwise_scanpath_scores(paths, metric="sbtde", k=k)
    for i in range(len(paths)):
        for j in range(len(paths)):
            wa = [paths[i][s:s + k, :2].ravel() for s in range(len(paths[i]) - k + 1)]
            wb = [paths[j][s:s + k, :2].ravel() for s in range(len(paths[j]) - k + 1)]
            expected = np.mean([min(np.linalg.norm(u - v) for v in wb) / k for u in wa])
            assert matrix[i, j] == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(np.diag(matrix), 0.0)


# -- pairwise -----------------------------------------------------------------------------------------
def test_pairwise_equals_single_pair_functions(paths):
    a, b = paths[:5], paths[5:9]
    calls = {"dtw": (dtw, {}), "sbtde": (sbtde, {"k": 2}),
             "string_edit_distance": (string_edit_distance, {"grid": (4, 4), "size": SCREEN}),
             "sequence_score": (sequence_score, {"grid": (4, 4), "size": SCREEN}),
             "scanmatch": (scanmatch, {"size": SCREEN, "temporal_bin": 0.05})}
    for metric, (fn, kwargs) in calls.items():
        matrix = pairwise_scanpath_scores(a, b, metric=metric, **kwargs)
        expected = [[fn(x, y, **kwargs) for y in b] for x in a]
        np.testing.assert_allclose(matrix, expected, atol=1e-12, err_msg=metric)


def test_pairwise_labels_scanpaths_and_defaults_image_size(paths):
    sp = Scanpaths.from_arrays(paths[:4], ["i1", "i1", "i2", "i2"], subjects=["s1", "s2", "s1", "s2"],
                               sizes={"i1": SCREEN, "i2": SCREEN})
    out = pairwise_scanpath_scores(sp, metric="multimatch")
    assert isinstance(out, xr.DataArray) and out.dims == ("scanpath_a", "scanpath_b", "dimension")
    assert list(out["dimension"].values) == list(MULTIMATCH_DIMENSIONS)
    assert list(out["subject_b"].values) == ["s1", "s2", "s1", "s2"]
    np.testing.assert_allclose(out.values, pairwise_scanpath_scores(paths[:4], metric="multimatch",
                                                                    size=SCREEN), atol=1e-12)
    edit = pairwise_scanpath_scores(sp, metric="string_edit_distance")
    np.testing.assert_allclose(edit.values, edit.values.T)


def test_clear_errors(paths):
    with pytest.raises(InputError, match="metric"):
        pairwise_scanpath_scores(paths, metric="frechet")
    with pytest.raises(InputError, match="unknown parameters"):
        pairwise_scanpath_scores(paths, metric="dtw", grid=(2, 2))
    with pytest.raises(InputError, match="missing parameters"):
        pairwise_scanpath_scores(paths, metric="multimatch")
    with pytest.raises(InputError, match="outside the image"):
        string_edit_distance(np.array([[5, 5]]), np.array([[200, 5]]), size=(100, 100))
    with pytest.raises(InputError, match="size: received None"):
        sequence_score(paths[0], paths[1])
    with pytest.raises(InputError, match="k <="):
        sbtde(paths[0][:2], paths[1], k=3)
    with pytest.raises(InputError, match="duration"):
        scanmatch(paths[0][:, :2], paths[1][:, :2], SCREEN, temporal_bin=0.05)
    with pytest.raises(InputError, match="empty"):
        dtw(np.zeros((0, 2)), paths[0])


def test_within_image_scores_only_pairs_of_the_same_image():
    rng = np.random.default_rng(5)
    paths = [np.c_[rng.uniform(0, 1024, n), rng.uniform(0, 768, n), rng.uniform(0.1, 0.4, n)]
             for n in rng.integers(3, 8, 7)]
    images = ["a", "a", "b", "a", "b", "c", "c"]
    subjects = ["s0", "s1", "s0", "s2", "s1", "s0", "s1"]
    sp = Scanpaths.from_arrays(paths, images, subjects=subjects, sizes={i: (768, 1024) for i in "abc"})
    full = pairwise_scanpath_scores(sp, metric="dtw")
    within = pairwise_scanpath_scores(sp, metric="dtw", within="stimulus_id")
    same = np.equal.outer(np.array(images), np.array(images))
    np.testing.assert_array_equal(within.values[same], full.values[same])  # the same values where scored
    assert np.isnan(within.values[~same]).all()
    assert list(within["stimulus_id_a"].values) == images
    # two columns at once, against a second set, and MultiMatch's five dimensions
    first = Scanpaths.from_arrays(paths[:4], images[:4], subjects=subjects[:4], sizes={"a": (768, 1024),
                                                                                            "b": (768, 1024)})
    both = pairwise_scanpath_scores(first, sp, metric="multimatch", within=("stimulus_id", "subject"))
    assert both.shape == (4, 7, 5)
    pairs = np.argwhere(~np.isnan(both.values[..., 0]))
    assert all(images[i] == images[j] and subjects[i] == subjects[j] for i, j in pairs)
    assert len(pairs) == sum(1 for i in range(both.shape[0]) for j in range(7)
                             if images[i] == images[j] and subjects[i] == subjects[j])
    for i, j in pairs:
        np.testing.assert_allclose(both.values[i, j], multimatch(paths[i], paths[j], (768, 1024)), atol=1e-9)
    with pytest.raises(InputError, match="within"):
        pairwise_scanpath_scores(sp, metric="dtw", within="stimulus")
    with pytest.raises(InputError, match="Scanpaths"):
        pairwise_scanpath_scores(paths, metric="dtw", within="stimulus_id")
