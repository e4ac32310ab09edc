"""Tests of neuroperception.plotting (figures and the HTML report)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from neuroperception.errors import InputError, ShapeError  # noqa: E402
from neuroperception.plotting import (  # noqa: E402
    Report,
    plot_feature_pca,
    plot_image_grid,
    plot_rdm,
    plot_rdms,
    save_figure,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _n_images(fig):
    return sum(len(ax.images) for ax in fig.axes)


# ---------------------------------------------------------------------------- image grid
def test_image_grid_counts_and_titles():
    imgs = np.random.default_rng(0).random((5, 3, 8, 8))
    labels = ["a", "b", "c", "d", "a_very_long_stimulus_identifier_of_a_photograph.png"]
    fig = plot_image_grid(imgs, labels=labels, ncols=3)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6  # 2 rows x 3 columns
    assert _n_images(fig) == 5
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:4] == ["a", "b", "c", "d"]
    assert titles[4] == "…" + labels[4][-23:] and len(titles[4]) == 24
    assert titles[5] == ""
    # parts shared by every id of a kind are dropped from the titles
    grid = plot_image_grid(imgs[:2], labels=["grating/ori=0/phase=0", "grating/ori=90/phase=0"])
    assert [ax.get_title() for ax in grid.axes] == ["grating/ori=0", "grating/ori=90"]
    # pixels shown are the images, channels last
    np.testing.assert_allclose(np.asarray(fig.axes[1].images[0].get_array()),
                               imgs[1].transpose(1, 2, 0).astype(np.float32), rtol=0, atol=1e-7)


def test_image_grid_tensor_and_clipping():
    t = torch.full((2, 3, 4, 4), 1.5)
    fig = plot_image_grid(t)
    assert _n_images(fig) == 2
    assert len(fig.axes) == 2  # ncols capped at n
    assert float(np.asarray(fig.axes[0].images[0].get_array()).max()) == 1.0


def test_image_grid_grey():
    fig = plot_image_grid(np.zeros((3, 1, 6, 6)), ncols=8)
    assert _n_images(fig) == 3


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 4, 8, 8), (2, 8, 8, 3)])
def test_image_grid_wrong_shape(shape):
    with pytest.raises(ShapeError) as err:
        plot_image_grid(np.zeros(shape))
    assert str(shape) in str(err.value) and "(N, 3, H, W)" in str(err.value)


# ---------------------------------------------------------------------------- RDMs
def test_plot_rdm_values_and_labels():
    rdm = 1 - np.eye(4) + np.arange(16).reshape(4, 4) / 100
    fig = plot_rdm(rdm, labels=["w", "x", "y", "z"], title="layer1")
    assert isinstance(fig, Figure)
    main = fig.axes[0]
    assert len(main.images) == 1
    np.testing.assert_array_equal(np.asarray(main.images[0].get_array()), rdm)
    assert main.get_title() == "layer1"
    assert [t.get_text() for t in main.get_xticklabels()] == ["w", "x", "y", "z"]
    assert len(fig.axes) == 2  # heat map + colour bar
    assert fig.axes[1].get_ylabel() == "dissimilarity"


def test_plot_rdm_many_labels_hidden():
    n = 41
    fig = plot_rdm(np.zeros((n, n)), labels=[str(i) for i in range(n)])
    assert list(fig.axes[0].get_xticks()) == []


def test_plot_rdm_on_given_axis():
    fig, ax = plt.subplots()
    out = plot_rdm(np.ones((3, 3)), ax=ax)
    assert out is fig
    assert len(ax.images) == 1


@pytest.mark.parametrize("shape", [(3, 4), (9,), (2, 2, 2)])
def test_plot_rdm_wrong_shape(shape):
    with pytest.raises(ShapeError) as err:
        plot_rdm(np.zeros(shape))
    assert str(shape) in str(err.value) and "square" in str(err.value)


def test_plot_rdms_one_image_per_entry():
    rdms = {f"layer{i}": np.full((3, 3), float(i)) for i in range(5)}
    fig = plot_rdms(rdms, labels=["a", "b", "c"], ncols=4)
    assert _n_images(fig) == 5
    with_images = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in with_images] == list(rdms)
    for i, ax in enumerate(with_images):
        np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), np.full((3, 3), float(i)))
    # 2 x 4 grid: 3 unused axes are switched off
    grid_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert sum(not ax.axison for ax in grid_axes) >= 3


def test_plot_rdms_empty_and_bad_entry():
    with pytest.raises(InputError, match="empty mapping"):
        plot_rdms({})
    with pytest.raises(ShapeError, match="square"):
        plot_rdms({"ok": np.zeros((2, 2)), "bad": np.zeros((2, 3))})


# ---------------------------------------------------------------------------- PCA
def test_feature_pca_points_and_groups():
    t = np.array([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0])
    direction = np.array([1.0, 2.0, 2.0]) / 3.0  # unit vector
    feats = t[:, None] * direction[None, :] + np.array([5.0, -2.0, 1.0])
    groups = ["a", "a", "b", "b", "c", "c"]
    fig = plot_feature_pca(feats, groups=groups, title="pca")
    ax = fig.axes[0]
    assert len(ax.images) == 0
    assert len(ax.collections) == 3  # one scatter per group
    pts = np.concatenate([c.get_offsets() for c in ax.collections])
    # PC1 is the centred parameter up to sign; PC2 is ~0
    np.testing.assert_allclose(np.abs(pts[:, 0]), np.abs(t - t.mean()), atol=1e-9)
    np.testing.assert_allclose(pts[:, 1], 0, atol=1e-9)
    assert ax.get_xlabel() == "PC1 (100% var)"
    assert ax.get_title() == "pca"
    assert [txt.get_text() for txt in ax.get_legend().get_texts()] == ["a", "b", "c"]


def test_feature_pca_single_group_no_legend():
    fig = plot_feature_pca(np.random.default_rng(0).random((6, 4)))
    ax = fig.axes[0]
    assert len(ax.collections) == 1 and ax.get_legend() is None
    assert len(ax.collections[0].get_offsets()) == 6


def test_feature_pca_one_feature():
    fig = plot_feature_pca(np.array([[1.0], [2.0], [4.0]]))
    assert fig.axes[0].get_ylabel() == "PC2 (0% var)"


@pytest.mark.parametrize("shape", [(5,), (1, 4), (2, 3, 4)])
def test_feature_pca_wrong_shape(shape):
    with pytest.raises(ShapeError) as err:
        plot_feature_pca(np.zeros(shape))
    assert str(shape) in str(err.value)


# ---------------------------------------------------------------------------- save / report
def test_save_figure_creates_folders(tmp_path):
    fig = plot_rdm(np.eye(2))
    p = save_figure(fig, tmp_path / "a" / "b" / "rdm.png")
    assert p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)


def test_report_writes_html(tmp_path):
    out = tmp_path / "report"
    r = Report(out, "My <Report>", docs_root="../docs/")
    s1 = r.section("Encoding results", "First paragraph with <b>bold</b> & more.\n\nSecond paragraph.",
                   doc="encoding.md")
    s1.figures.append(r.figure(plot_rdm(1 - np.eye(3)), "rdm_layer1", "RDM of <layer1>"))
    df = pd.DataFrame({"layer": ["conv1", "fc7"], "score": [0.123456, 0.9]})
    s1.tables.append(Report.table(df, caption="Scores"))
    r.section("Second section")
    path = r.write()
    assert path == out / "index.html"
    text = path.read_text(encoding="utf-8")
    # title and section titles, escaped
    assert "<h1>My &lt;Report&gt;</h1>" in text
    assert "<h2>Encoding results</h2>" in text and "<h2>Second section</h2>" in text
    assert "href='#s0'>Encoding results</a>" in text and "href='#s1'>Second section</a>" in text
    # text paragraphs escaped
    assert "<p>First paragraph with &lt;b&gt;bold&lt;/b&gt; &amp; more.</p>" in text
    assert "<p>Second paragraph.</p>" in text
    assert "<b>bold</b>" not in text
    # figure file exists and is referenced
    assert (out / "figures" / "rdm_layer1.png").is_file()
    assert "<img src='figures/rdm_layer1.png' alt='RDM of &lt;layer1&gt;'>" in text
    assert "<figcaption>RDM of &lt;layer1&gt;</figcaption>" in text
    # table from the DataFrame, formatted with 3 significant digits
    assert "<p><b>Scores</b></p>" in text
    assert "<table" in text and "<th>layer</th>" in text and "<td>conv1</td>" in text
    assert "<td>0.123</td>" in text and "0.123456" not in text
    # documentation link built from docs_root
    assert "<a href='../docs/encoding.md'>Documentation for this section</a>" in text
    assert text.count("Documentation for this section") == 1


def test_report_doc_link_without_root(tmp_path):
    r = Report(tmp_path, "T")
    r.section("S", "x", doc="page.html#anchor")
    text = r.write().read_text(encoding="utf-8")
    assert "<a href='page.html#anchor'>Documentation for this section</a>" in text
    assert (tmp_path / "figures").is_dir()
