"""plot_attack_examples: clean / attacked / amplified-perturbation panels of an attack."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from neuroperception.errors import InputError, ShapeError  # noqa: E402
from neuroperception.plotting import plot_attack_examples  # noqa: E402


def _pair(n=3, h=6, w=5, eps=6 / 255, seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.uniform(0, 1, size=(n, 3, h, w)).astype(np.float32)
    clean[0, 0, 0, 0], clean[0, 1, 0, 0] = 0.0, 1.0  # on the range's edges: the perturbation is clipped there
    delta = rng.uniform(-eps, eps, size=clean.shape).astype(np.float32)
    return clean, np.clip(clean + delta, 0, 1).astype(np.float32)


def test_one_column_per_example_three_rows():
    clean, attacked = _pair(n=3)
    fig = plot_attack_examples(clean, attacked, labels=["a +1", "b +2", "c +3"])
    try:
        assert len(fig.axes) == 9
        assert [a.get_title() for a in fig.axes[:3]] == ["a +1", "b +2", "c +3"]
        assert [fig.axes[k].get_ylabel() for k in (0, 3, 6)] == ["clean", "attacked", "δ × 8 (grey = 0)"]
        for j in range(3):  # the top two rows show the images themselves
            np.testing.assert_array_equal(fig.axes[j].images[0].get_array(), clean[j].transpose(1, 2, 0))
            np.testing.assert_array_equal(fig.axes[3 + j].images[0].get_array(), attacked[j].transpose(1, 2, 0))
    finally:
        plt.close(fig)


@pytest.mark.parametrize("amplify", [8, 20.0, 1])
def test_delta_panel_is_grey_plus_amplified_delta_clipped(amplify):
    clean, attacked = _pair(n=2, eps=10 / 255)
    delta = attacked.astype(np.float64) - clean
    fig = plot_attack_examples(torch.from_numpy(clean), torch.from_numpy(attacked), amplify=amplify)
    try:
        for j in range(2):
            shown = np.asarray(fig.axes[4 + j].images[0].get_array(), dtype=np.float64)
            expected = np.clip(0.5 + amplify * delta[j], 0.0, 1.0).transpose(1, 2, 0)
            np.testing.assert_allclose(shown, expected, atol=1e-6)
            assert f"δ × {amplify:g}" in fig.axes[4 + j].get_title()
            assert f"max |δ| = {255 * np.abs(delta[j]).max():.1f}/255" in fig.axes[4 + j].get_title()
        if amplify == 20.0:  # a 10/255 budget amplified 20 times saturates some pixels at 0 and 1
            assert shown.min() == 0.0 and shown.max() == 1.0
    finally:
        plt.close(fig)


def test_identical_images_give_a_uniform_grey_delta():
    clean, _ = _pair(n=1)
    fig = plot_attack_examples(clean, clean.copy())
    try:
        np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), np.full((6, 5, 3), 0.5))
        assert fig.axes[2].get_title().endswith("max |δ| = 0.0/255")
    finally:
        plt.close(fig)


def test_draws_into_given_axes():
    clean, attacked = _pair(n=2)
    fig, grid = plt.subplots(3, 2)
    try:
        assert plot_attack_examples(clean, attacked, ax=grid) is fig
        assert all(len(a.images) == 1 for a in grid.flat)
        np.testing.assert_array_equal(grid[1, 1].images[0].get_array(), attacked[1].transpose(1, 2, 0))
        with pytest.raises(InputError, match=r"ax: received 4 object\(s\); expected 6 matplotlib Axes"):
            plot_attack_examples(clean, attacked, ax=grid[:2])
    finally:
        plt.close(fig)


def test_mismatched_shapes_are_a_clear_error():
    clean, attacked = _pair(n=3)
    with pytest.raises(InputError, match=r"attacked: received .*\(2, 3, 6, 5\).*expected the shape of clean, "
                                         r"\(3, 3, 6, 5\)") as err:
        plot_attack_examples(clean, attacked[:2])
    assert isinstance(err.value, ShapeError)
    with pytest.raises(InputError, match=r"expected the shape of clean, \(3, 3, 6, 5\)"):
        plot_attack_examples(clean, np.zeros((3, 3, 6, 6), dtype=np.float32))


def test_invalid_arguments_are_clear_errors():
    clean, attacked = _pair(n=2)
    with pytest.raises(InputError, match=r"labels: received 3 labels; expected 2 \(one per example\)"):
        plot_attack_examples(clean, attacked, labels=["a", "b", "c"])
    for bad in (0, -2, float("nan"), "x"):
        with pytest.raises(InputError, match=r"amplify: received .*; expected a positive number"):
            plot_attack_examples(clean, attacked, amplify=bad)
    with pytest.raises(InputError, match=r"attacked: .*NaN"):
        plot_attack_examples(clean, np.full_like(attacked, np.nan))
    plt.close("all")
