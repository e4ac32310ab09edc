"""Scanpath and saliency overlay figures: they render and draw what they were given."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import xarray as xr
from matplotlib.colors import to_rgba
from matplotlib.image import AxesImage

from neuroperception.errors import InputError, ShapeError
from neuroperception.plotting.scanpaths import plot_saliency_overlay, plot_scanpaths
from neuroperception.scanpaths import Scanpaths


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _markers(ax):
    return [c.get_offsets() for c in ax.collections]


def test_scanpaths_markers_numbers_lines_and_colours():
    rng = np.random.default_rng(0)
    paths = [np.c_[rng.uniform(0, 80, n), rng.uniform(0, 60, n), rng.uniform(100, 500, n)] for n in (3, 5, 1)]
    fig = plot_scanpaths(np.zeros((60, 80, 3), np.uint8), paths, labels=["a", "b", "c"])
    ax = fig.axes[0]
    offsets = _markers(ax)
    assert [len(o) for o in offsets] == [3, 5, 1]
    for o, p in zip(offsets, paths):
        np.testing.assert_allclose(o, p[:, :2])
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(j) for p in paths for j in range(1, len(p) + 1))
    assert len(ax.lines) == 3
    faces = [tuple(c.get_facecolor()[0][:3]) for c in ax.collections]
    assert len(set(faces)) == 3  # one colour per scanpath
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    fig.canvas.draw()  # renders without error


def test_marker_area_grows_with_duration():
    fig = plot_scanpaths(None, np.array([[1, 1, 100], [5, 5, 300], [9, 9, 200]]), min_size=10, max_size=110)
    sizes = fig.axes[0].collections[0].get_sizes()
    np.testing.assert_allclose(sizes, [10, 110, 60])
    assert [t.get_text() for t in fig.axes[0].texts] == ["1", "2", "3"]
    no_dur = plot_scanpaths(None, np.array([[1, 1], [5, 5]]), numbers=False)
    assert len(no_dur.axes[0].texts) == 0
    assert np.ptp(no_dur.axes[0].collections[0].get_sizes()) == 0


def test_scanpaths_table_input_and_image_layouts():
    sp = Scanpaths.from_arrays([np.array([[1, 2, 50], [3, 4, 60]]), np.array([[5, 6, 70]])], ["img", "img"],
                               subjects=["s1", "s2"])
    for image in (torch.rand(3, 20, 30), torch.rand(1, 3, 20, 30), np.random.rand(20, 30, 3)):
        fig = plot_scanpaths(image, sp)
        ax = fig.axes[0]
        assert [len(o) for o in _markers(ax)] == [2, 1]
        assert ax.images[0].get_array().shape[:2] == (20, 30)
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["s1 #0", "s2 #1"]
    fig, ax = plt.subplots()
    assert plot_scanpaths(None, sp, ax=ax, colors=["red", "blue"]) is fig
    np.testing.assert_allclose(ax.collections[1].get_facecolor()[0][:3], to_rgba("blue")[:3])


def test_scanpath_plot_errors():
    with pytest.raises(ShapeError, match=r"expected \(n_fixations >= 1, 2\)"):
        plot_scanpaths(None, [np.zeros((3, 4))])
    with pytest.raises(InputError, match="one per scanpath"):
        plot_scanpaths(None, [np.zeros((3, 2))], labels=["a", "b"])
    with pytest.raises(InputError, match="expected values in"):
        plot_scanpaths(np.full((3, 8, 8), 2.0), [np.zeros((3, 2))])
    with pytest.raises(InputError, match="NaN"):
        plot_scanpaths(None, [np.array([[np.nan, 1.0]])])


def test_saliency_overlay_layers_and_alignment():
    smap = np.random.default_rng(1).random((15, 20))
    fix = [np.array([[5, 5], [20, 10]]), np.array([[30, 25]])]
    fig = plot_saliency_overlay(np.zeros((30, 40, 3), np.uint8), smap, fixations=fix, alpha=0.4, colorbar=True)
    ax = fig.axes[0]
    images = [a for a in ax.get_children() if isinstance(a, AxesImage)]
    assert len(images) == 2 and images[1].get_alpha() == 0.4
    assert images[0].get_extent() == images[1].get_extent() == [-0.5, 39.5, 29.5, -0.5]
    np.testing.assert_allclose(images[1].get_array(), smap)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.r_[fix[0], fix[1]])
    assert len(fig.axes) == 2  # colour bar
    fig.canvas.draw()


def test_saliency_overlay_dataarray_and_errors():
    da = xr.DataArray(np.ones((1, 4, 5)), dims=("stimulus", "y", "x"), coords={"stimulus_id": ("stimulus", ["a"])})
    fig = plot_saliency_overlay(None, da)
    assert len(fig.axes[0].images) == 1 and fig.axes[0].images[0].get_array().shape == (4, 5)
    with pytest.raises(ShapeError, match="received 2 maps"):
        plot_saliency_overlay(None, xr.concat([da, da], "stimulus"))
    with pytest.raises(InputError, match="finite"):
        plot_saliency_overlay(None, np.full((3, 3), np.nan))
    with pytest.raises(ShapeError, match=r"expected a \(height, width\) map"):
        plot_saliency_overlay(None, np.ones(4))
    with pytest.raises(InputError, match=r"alpha: received 2"):
        plot_saliency_overlay(None, np.ones((3, 3)), alpha=2)


def test_legend_sits_below_the_image_and_hides_no_fixation():
    rng = np.random.default_rng(1)
    paths = [np.c_[rng.uniform(0, 80, 8), rng.uniform(0, 60, 8)] for _ in range(3)]
    paths[0][0] = [78, 2]  # the corner where a legend inside the axes would sit
    fig = plot_scanpaths(np.zeros((60, 80, 3), np.uint8), paths, labels=["a", "b", "c"])
    fig.canvas.draw()
    ax = fig.axes[0]
    box = ax.get_legend().get_window_extent()
    axes_box = ax.get_window_extent()
    assert box.y1 <= axes_box.y0 + 1  # under the axes
    points = np.concatenate([ax.transData.transform(o) for o in _markers(ax)])
    assert not any(box.contains(x, y) for x, y in points)
    fig_box = fig.bbox
    assert box.y0 >= fig_box.y0 and box.x0 >= fig_box.x0 and box.x1 <= fig_box.x1  # inside the saved figure
    inside = plot_scanpaths(np.zeros((60, 80, 3), np.uint8), paths, labels=["a", "b", "c"], legend="best")
    inside.canvas.draw()
    ax = inside.axes[0]
    legend_box = ax.get_legend().get_window_extent()
    assert ax.get_window_extent().contains((legend_box.x0 + legend_box.x1) / 2, (legend_box.y0 + legend_box.y1) / 2)
    assert plot_scanpaths(None, paths, labels=["a", "b", "c"], legend=None).axes[0].get_legend() is None
    with pytest.raises(InputError, match="legend"):
        plot_scanpaths(None, paths, labels=["a", "b", "c"], legend="upper right")
