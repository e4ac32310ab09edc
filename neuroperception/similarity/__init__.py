"""Perceptual similarity: LPIPS, embedding, classic and brain-predicted distances, RSA, and a 2AFC
harness with BAPPS/NIGHTS readers.

Every metric is a :class:`Metric`: ``metric(x, y)`` for paired distances, ``metric.pairwise(x)``
for distance matrices, ``metric.set_reference(goal)`` / ``metric.to_reference(x)`` for rewards.

Examples
--------
>>> import torch
>>> from neuroperception.similarity import Metric
>>> issubclass(Metric, torch.nn.Module)
True
"""

from .base import Metric

__all__ = ["Metric"]
