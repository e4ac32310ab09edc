"""MultiMatch where several alignments cost exactly the same: equal to multimatch-gaze, whose Dijkstra
search decides the tie, on constructed ties and on real movie-viewing recordings (studyforrest, MIT/PDDL,
see tests/data/multimatch/README.md)."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from neuroperception.scanpaths import _multimatch
from neuroperception.scanpaths._alignment import _align, _backtrack
from neuroperception.scanpaths.scanpath_metrics import multimatch, pairwise_scanpath_scores

mg = pytest.importorskip("multimatch_gaze.multimatch_gaze")
DATA = Path(__file__).parent / "data" / "multimatch"
FORREST = (720, 1280)                                             # (height, width)
SEGMENTS = (0, 1, 2, 3, 4, 5, 14, 33, 35, 37, 46, 48, 50)
TIED_ACROSS = (((14, "19"), (37, "19")), ((4, "01"), (33, "01")), ((35, "01"), (50, "19")),
               ((46, "19"), (48, "19")))


def _record(path):
    rec = np.zeros(len(path), dtype=[("start_x", "f8"), ("start_y", "f8"), ("duration", "f8")])
    rec["start_x"], rec["start_y"], rec["duration"] = np.asarray(path, float).T
    return rec


def _reference(a, b, screen, **thresholds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grouping = bool(thresholds)
        return np.asarray(mg.docomparison(_record(a), _record(b), screensize=[screen[1], screen[0]],
                                          grouping=grouping, TDir=thresholds.get("direction_threshold", 0.0),
                                          TDur=thresholds.get("duration_threshold", 0.0),
                                          TAmp=thresholds.get("amplitude_threshold", 0.0)))


def _reference_path(a, b):
    """multimatch-gaze's alignment path (cells, start first), from its own graph and search."""
    pa, pb = mg.gen_scanpath_structure(_record(a)), mg.gen_scanpath_structure(_record(b))
    m = mg.cal_vectordifferences(pa, pb)
    n, rows, cols, weights = mg.createdirectedgraph(m.shape, m, None)
    return [divmod(int(node), m.shape[1]) for node in mg.dijkstra(n, rows, cols, weights, 0, n - 1)[0]]


def _table_path(a, b):
    """The cost table's own backtrack (above, left, diagonal among equals) and whether it met a tie."""
    la, lb = np.diff(np.asarray(a, float)[:, :2], axis=0), np.diff(np.asarray(b, float)[:, :2], axis=0)
    cost = np.sqrt(np.abs(la[:, None, 0] - lb[None, :, 0]) ** 2 + np.abs(la[:, None, 1] - lb[None, :, 1]) ** 2)
    cost[0, 0] = 0.0
    pi, pj, counts, tied = _backtrack(_align(cost[None], "path"), np.array([len(la)]), np.array([len(lb)]))
    return [(int(i), int(j)) for i, j in zip(pi[0, :counts[0]][::-1], pj[0, :counts[0]][::-1])], bool(tied[0])


def _forrest(segment, subject):
    return np.loadtxt(DATA / f"segment_{segment}_sub-{subject}.tsv", skiprows=1)


def test_all_alignments_cost_nothing_and_multimatch_gaze_takes_the_diagonal():
    # every saccade is (100, 0): all monotone alignments of the 3 and 2 saccades cost exactly 0
    a = np.array([[0, 300, 0.1], [100, 300, 0.2], [200, 300, 0.3], [300, 300, 0.4]])
    b = np.array([[0, 300, 0.4], [100, 300, 0.1], [200, 300, 0.3]])
    assert _reference_path(a, b) == [(0, 0), (1, 1), (2, 1)]
    assert _table_path(a, b) == ([(0, 0), (0, 1), (1, 1), (2, 1)], True)
    # along multimatch-gaze's path the saccades start at (0|0, 100|100, 200|100): position median 0
    expected = np.array([1.0, 1.0, 1.0, 1.0, 1 / 3])
    np.testing.assert_allclose(_reference(a, b, FORREST), expected, atol=1e-12)
    np.testing.assert_allclose(multimatch(a, b, FORREST), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(multimatch(b, a, FORREST), _reference(b, a, FORREST), rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def lattice():
    """Scanpaths on a 100-px lattice with durations in tenths: many exactly tied alignments."""
    rng = np.random.default_rng(3)
    paths = [np.c_[rng.integers(0, 4, n) * 100.0, rng.integers(0, 3, n) * 100.0, rng.integers(1, 4, n) / 10]
             for n in rng.integers(3, 10, 22)]
    reference = np.array([[_reference(a, b, (768, 1024)) for b in paths] for a in paths])
    return paths, reference


@pytest.mark.parametrize("search_cells", [None, 40])
def test_tied_lattice_alignments_equal_multimatch_gaze(lattice, search_cells, monkeypatch):
    paths, reference = lattice
    if search_cells is not None:            # a few pairs per stacked search instead of all at once
        monkeypatch.setattr(_multimatch, "_SEARCH_CELLS", search_cells)
    ours = pairwise_scanpath_scores(paths, metric="multimatch", size=(768, 1024))
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)
    # the ties are real: the table's own backtrack meets one in many pairs and would leave
    # multimatch-gaze's path in some of them
    tied = differs = 0
    for a in paths[:8]:
        for b in paths[:8]:
            path, tie = _table_path(a, b)
            tied += tie
            differs += path != _reference_path(a, b)
    assert tied >= 10 and differs >= 3


def test_studyforrest_segment_pairs_equal_multimatch_gaze():
    viewer_1 = [_forrest(s, "01") for s in SEGMENTS]
    viewer_2 = [_forrest(s, "19") for s in SEGMENTS]
    ours = pairwise_scanpath_scores(viewer_1, viewer_2, metric="multimatch", size=FORREST)
    for k, (a, b) in enumerate(zip(viewer_1, viewer_2)):
        np.testing.assert_allclose(ours[k, k], _reference(a, b, FORREST), rtol=0, atol=1e-12)
    for (s1, v1), (s2, v2) in TIED_ACROSS:
        a, b = _forrest(s1, v1), _forrest(s2, v2)
        np.testing.assert_allclose(multimatch(a, b, FORREST), _reference(a, b, FORREST), rtol=0, atol=1e-12)
        np.testing.assert_allclose(multimatch(b, a, FORREST), _reference(b, a, FORREST), rtol=0, atol=1e-12)


def test_studyforrest_segment_50_tie_is_resolved_as_multimatch_gaze():
    # two saccades of (0.3, 0.3) px differ by 2.8e-14 px, which vanishes in a path cost of 2240 px:
    # the cell above and the diagonal one then cost exactly the same
    a, b = _forrest(50, "01"), _forrest(50, "19")
    path, tie = _table_path(a, b)
    assert tie and path != _reference_path(a, b)
    ours, reference = multimatch(a, b, FORREST), _reference(a, b, FORREST)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)
    # direction and duration along it; the table's own path gives 0.6429 and 0.3789
    np.testing.assert_allclose(reference[[1, 4]], [0.6061, 0.4092], atol=1e-4)


def test_studyforrest_with_simplification_equals_multimatch_gaze():
    thresholds = dict(direction_threshold=45.0, duration_threshold=0.3, amplitude_threshold=147.0)
    viewer_1 = [_forrest(s, "01") for s in SEGMENTS]
    viewer_2 = [_forrest(s, "19") for s in SEGMENTS]
    ours = pairwise_scanpath_scores(viewer_1, viewer_2, metric="multimatch", size=FORREST, **thresholds)
    compared = 0
    for k, (a, b) in enumerate(zip(viewer_1, viewer_2)):
        try:
            reference = _reference(a, b, FORREST, **thresholds)
        except IndexError:                  # multimatch-gaze fails on a scanpath simplified to one saccade
            continue
        np.testing.assert_allclose(ours[k, k], reference, rtol=0, atol=1e-12)
        compared += 1
    assert compared >= 10
