"""CombinedReward: per-term normalisation (fixed from calibration images or running), weights, per-term logging;
optimize_images through a generator's input against the combination with a held-out judge beside it."""

import numpy as np
import pytest
import torch

from neuroperception.errors import InputError
from neuroperception.rewards import CombinedReward, GoalImageReward, optimize_images
from neuroperception.similarity import L2


def bright(x):
    return x.mean(dim=(1, 2, 3))


def red(x):
    return 100 * x[:, 0].mean(dim=(1, 2))


CALIB = torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def test_fixed_normalisation_standardises_each_term_on_the_calibration_images():
    r = CombinedReward({"bright": (bright, 2.0), "red": (red, -0.5)}, calibration=CALIB)
    b, d = bright(CALIB).double(), red(CALIB).double()
    expected = 2.0 * (b - b.mean()) / b.std() - 0.5 * (d - d.mean()) / d.std()
    torch.testing.assert_close(r(CALIB).double(), expected, rtol=1e-5, atol=1e-5)
    comps = r.components(CALIB[:3])
    torch.testing.assert_close(comps["red"], red(CALIB[:3]))
    assert abs(float(r.components(CALIB)["bright/normalized"].mean())) < 1e-5


def test_running_normalisation_equals_the_statistics_of_everything_seen_and_freezes_in_eval():
    r = CombinedReward({"red": red}, normalize="running")
    seen = []
    for k in range(3):
        batch = torch.rand(5 + k, 3, 8, 8, generator=torch.Generator().manual_seed(k))
        r(batch)
        seen.append(red(batch))
    allv = torch.cat(seen).double().numpy()
    assert r.mean_["red"] == pytest.approx(allv.mean()) and r.std_["red"] == pytest.approx(allv.std())
    r.eval()
    r(torch.ones(4, 3, 8, 8))
    assert r.mean_["red"] == pytest.approx(allv.mean())


def test_a_generator_input_is_optimised_against_the_combination_with_a_held_out_judge():
    torch.manual_seed(0)
    decoder = torch.nn.Sequential(torch.nn.Linear(6, 3 * 8 * 8), torch.nn.Sigmoid(), torch.nn.Unflatten(1, (3, 8, 8)))
    for p in decoder.parameters():
        p.requires_grad_(False)
    goal = torch.zeros(1, 3, 8, 8)
    goal[:, 0] = 1.0
    calib = decoder(torch.randn(64, 6))
    combined = CombinedReward({"goal": GoalImageReward(L2(), goal), "bright": (bright, 0.2)}, calibration=calib)
    judge = GoalImageReward(L2(), goal)       # held out: not in the optimised objective with these weights
    history, images = optimize_images(combined, torch.zeros(3, 6), steps=40, lr=0.2, generator=decoder,
                                      judge={"goal judge": judge}, latent_penalty=0.01)
    means = history.groupby("step")[["reward", "goal judge"]].mean()
    assert means["reward"].iloc[-1] > means["reward"].iloc[0] + 0.3   # in calibration standard deviations
    assert means["goal judge"].iloc[-1] > means["goal judge"].iloc[0]
    torch.testing.assert_close(images, decoder(history.attrs["latent"]))


def test_bad_input_says_what_was_received():
    with pytest.raises(InputError, match="non-empty mapping"):
        CombinedReward({})
    with pytest.raises(InputError, match="normalize"):
        CombinedReward({"a": bright}, normalize="z")
    with pytest.raises(InputError, match="calibration"):
        CombinedReward({"a": bright})
    with pytest.raises(InputError, match="weight"):
        CombinedReward({"a": (bright, "heavy")}, normalize="none")
    with pytest.raises(InputError, match="callable"):
        CombinedReward({"a": (3, 1.0)}, normalize="none")
    with pytest.raises(InputError, match="returned"):
        CombinedReward({"a": lambda x: x.mean()}, normalize="none")(CALIB[:2])
    with pytest.raises(InputError, match="latent_penalty"):
        optimize_images(bright, torch.zeros(1, 4), generator=lambda z: torch.zeros(1, 3, 8, 8), latent_penalty=-1)
    with pytest.raises(InputError, match="generator"):
        optimize_images(bright, torch.zeros(1, 4), generator=lambda z: z)
