import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture
def small_images():
    """Six random images (3, 48, 48) in [0, 1] with a fixed seed, as an ImageSet."""
    from neuroperception.stimuli import ImageSet

    g = torch.Generator().manual_seed(0)
    return ImageSet.from_array(torch.rand(6, 3, 48, 48, generator=g), stimulus_id=[f"s{i}" for i in range(6)])


@pytest.fixture(scope="session")
def alexnet():
    from neuroperception.features import load_model

    return load_model("torchvision:alexnet", random_state=0)


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    torch.manual_seed(0)
