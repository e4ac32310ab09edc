"""Perceptual rewards: reward functions, shaping, adapters to RL libraries, hacking diagnostics."""

from .base import RewardFunction
from .demonstration import DemonstrationReward, discover_steps
from .functions import BrainReward, GoalImageReward, JudgeReward, TextGoalReward
from .judges import OrderDebiasedJudge
from .preference import PreferenceReward
from .combined import CombinedReward
from .shaping import PotentialShaping, RankTransform, RunningNormalizer, clip
from .diagnostics import (Attack, TransformAveragedReward, attack_table, ensemble_disagreement, optimize_images,
                          reward_sensitivity)

__all__ = ["RewardFunction", "GoalImageReward", "TextGoalReward", "BrainReward", "JudgeReward", "OrderDebiasedJudge",
           "PreferenceReward", "CombinedReward",
           "DemonstrationReward", "discover_steps",
           "RunningNormalizer", "clip", "RankTransform", "PotentialShaping", "reward_sensitivity",
           "ensemble_disagreement", "TransformAveragedReward", "attack_table", "Attack", "optimize_images"]

# RL adapters and the Reach-v0 and WorldPaint-v0 tasks need the [rl] extra (gymnasium, stable-baselines3, torchrl): loaded on first use.
_LAZY = {"PerceptualRewardWrapper": "adapters", "PerceptualRewardVectorWrapper": "adapters",
         "SB3PerceptualReward": "adapters", "PerceptualRewardTransform": "adapters", "ReachEnv": "envs",
         "REACH_ID": "envs", "register_envs": "envs", "WorldPaintEnv": "world_envs", "WORLD_PAINT_ID": "world_envs"}
__all__ += list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
