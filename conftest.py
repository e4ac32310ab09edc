"""pytest setup shared by the tests and the doctests of the package: matplotlib without a display, and
every figure closed after each test, so that long runs of plotting doctests do not pile figures up."""

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
