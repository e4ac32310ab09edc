"""The Metric interface: paired, pairwise and reference distances agree, and inputs are checked."""

import pytest
import torch

from neuroperception.errors import InputError, ShapeError
from neuroperception.similarity import Metric


class _Pooled(Metric):
    """Squared distance between 2x2 average-pooled images, with a tuple representation."""

    def embed(self, images):
        pooled = torch.nn.functional.adaptive_avg_pool2d(images, 2).flatten(1)
        return (pooled, images.mean(dim=(1, 2, 3)))

    def compare(self, a, b):
        return ((a[0] - b[0]) ** 2).sum(1) + (a[1] - b[1]).abs()


@pytest.fixture
def batches():
    g = torch.Generator().manual_seed(1)
    return torch.rand(5, 3, 8, 8, generator=g), torch.rand(4, 3, 8, 8, generator=g)


def test_pairwise_equals_paired_loop(batches):
    x, y = batches
    m = _Pooled()
    d = m.pairwise(x, y, batch_size=2)
    assert d.shape == (5, 4)
    for i in range(5):
        for j in range(4):
            torch.testing.assert_close(d[i, j], m(x[i:i + 1], y[j:j + 1])[0])
    self_d = m.pairwise(x)
    torch.testing.assert_close(self_d, self_d.T)
    torch.testing.assert_close(torch.diagonal(self_d), torch.zeros(5))


def test_reference_single_and_per_row(batches):
    x, y = batches
    m = _Pooled().set_reference(y[:1])
    torch.testing.assert_close(m.to_reference(x), m(x, y[:1].expand(5, -1, -1, -1)))
    m.set_reference(y)
    torch.testing.assert_close(m.to_reference(x[:4]), m(x[:4], y))
    with pytest.raises(ShapeError, match="4 reference images"):
        m.to_reference(x)


def test_broadcast_single_y_and_gradients(batches):
    x, y = batches
    x = x.clone().requires_grad_(True)
    d = _Pooled()(x, y[:1])
    assert d.shape == (5,)
    d.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_errors(batches):
    x, y = batches
    m = _Pooled()
    with pytest.raises(InputError, match="no reference set"):
        m.to_reference(x)
    with pytest.raises(ShapeError, match="same shape"):
        m(x, y)
    with pytest.raises(InputError, match=r"\[0, 1\]|range"):
        m(x * 2 - 1, x)  # [-1, 1] data passed as [0, 1]
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        m(bad, x)
    with pytest.raises(ShapeError, match="same size"):
        m.pairwise(x, torch.rand(2, 3, 6, 6))
    signed = _Pooled(value_range=(-1, 1))
    torch.testing.assert_close(signed(x * 2 - 1, y[:1] * 2 - 1), m(x, y[:1]))
    with pytest.raises(TypeError):
        Metric()
    for bad_range in ((0, 2), (0, 1, 2), "0-1", None):  # checked when the metric is built, not at its first call
        with pytest.raises(InputError, match="_Pooled: received value_range"):
            _Pooled(value_range=bad_range)
    assert _Pooled(value_range=[0, 255]).value_range == (0.0, 255.0)
