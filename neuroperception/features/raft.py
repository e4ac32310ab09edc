"""torchvision's RAFT optical-flow network, loaded from local weights and wrapped as a flow estimator.

- :class:`RAFTFlow`: a RAFT module (``raft_large`` or ``raft_small``) wrapped for the package's frames
  (float32 ``(N, 3, H, W)`` in [0, 1]) and flow convention (:mod:`neuroperception.stimuli.flow_fields`):
  frames mapped to [-1, 1], padded to RAFT's size constraints, flow cropped back.
- :func:`load_raft`: builds one with weights from a local file, or from torchvision's cache by tag;
  nothing is downloaded.

Both are exported from :mod:`neuroperception.features`; :func:`~neuroperception.features.estimate_flow`
runs them with ``method="raft"``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from .._docs import fill_doc
from .._validation import check_device
from ..errors import InputError, MissingWeightsError
from ._flow_base import FlowEstimator, _count
from ._torchvision import torchvision_checkpoint_dir
from .registry import is_weights_path
from .weights import apply_state_dict, find_cached_file, load_state_dict_file

__all__ = ["RAFTFlow", "load_raft"]

_RAFT_MIN_SIZE = 128  # RAFT's 4-level correlation pyramid needs feature maps of at least 16 (= 128 / 8) pixels


@fill_doc
class RAFTFlow(FlowEstimator):
    """torchvision's RAFT wrapped for the package's frames and flow convention.

    Frames in [0, 1] are mapped to [-1, 1] (RAFT's training normalisation), padded by edge
    replication to a multiple of 8 and at least 128 pixels (RAFT's size constraints), and the
    flow of the last of ``num_flow_updates`` refinements is cropped back to the input size. Build
    it with :func:`load_raft`.

    Parameters
    ----------
    module : torchvision.models.optical_flow.RAFT
        The network.
    variant : {"large", "small"}
        Which RAFT it is.
    weights : str
        Where the weights came from.
    num_flow_updates : int
        Recurrent refinements per call.
    %(device)s

    Attributes
    ----------
    module : torchvision.models.optical_flow.RAFT
        The network, in eval mode.
    variant : {"large", "small"}
    weights : str
        Where the weights came from.
    num_flow_updates : int
        Recurrent refinements per call (torchvision's default is 12).

    Examples
    --------
    >>> from torchvision.models.optical_flow import raft_small
    >>> RAFTFlow(raft_small(weights=None), variant="small", weights="random-init", num_flow_updates=4, device="cpu")
    RAFTFlow(variant='small', weights='random-init', num_flow_updates=4, device=cpu)
    """

    name = "raft"

    def __init__(self, module: torch.nn.Module, *, variant: str, weights: str, num_flow_updates: int = 12,
                 device=None):
        self.module = module.eval()
        self.variant = variant
        self.weights = weights
        self.num_flow_updates = _count(num_flow_updates, "num_flow_updates")
        self.to(device)

    def to(self, device) -> "RAFTFlow":
        """Move the network to ``device``."""
        super().to(device)
        self.module.to(self.device)
        return self

    def _estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h, w = a.shape[-2:]
        ph, pw = _raft_padded(h), _raft_padded(w)
        top, left = (ph - h) // 2, (pw - w) // 2
        pad = (left, pw - w - left, top, ph - h - top)
        a = F.pad(a * 2 - 1, pad, mode="replicate")
        b = F.pad(b * 2 - 1, pad, mode="replicate")
        with torch.no_grad():
            flows = self.module(a, b, num_flow_updates=self.num_flow_updates)
        return flows[-1][..., top:top + h, left:left + w].contiguous()

    def __repr__(self) -> str:
        return (f"RAFTFlow(variant={self.variant!r}, weights={self.weights!r}, "
                f"num_flow_updates={self.num_flow_updates}, device={self.device})")


def _raft_padded(n: int) -> int:
    return max(_RAFT_MIN_SIZE, -(-n // 8) * 8)


# --------------------------------------------------------------------------------------------- loading


def _raft_enum(variant: str):
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

    return Raft_Large_Weights if variant == "large" else Raft_Small_Weights


def _resolve_raft_tag(weights, variant: str):
    """A torchvision weights entry for a tag (``"DEFAULT"``, ``"C_T_SKHT_V2"``, ``"Raft_Large_Weights.C_T_V2"``)."""
    enum = _raft_enum(variant)
    tags = [w.name for w in enum]
    if not isinstance(weights, str):  # a WeightsEnum member
        if isinstance(weights, enum):
            return weights
        raise InputError(f"weights: received {weights!r} for variant={variant!r}; expected a member of "
                         f"{enum.__name__} ({tags}), 'DEFAULT' or a file path")
    prefix, _, tag = weights.rpartition(".")
    if prefix and prefix != enum.__name__:
        raise InputError(f"weights: received {weights!r} for variant={variant!r}; expected a tag of "
                         f"{enum.__name__} ({tags}), 'DEFAULT' or a file path")
    if tag.upper() == "DEFAULT":
        return enum.DEFAULT
    if tag in tags:
        return enum[tag]
    raise InputError(f"weights: received tag {weights!r} for RAFT {variant}; expected 'DEFAULT', one of {tags} "
                     f"(torchvision.models.optical_flow.{enum.__name__}) or a file path")


@fill_doc
def load_raft(weights, *, variant: str = "large", device=None, num_flow_updates: int = 12) -> RAFTFlow:
    """torchvision's RAFT with weights from a local file or from torchvision's cache; no download.

    Parameters
    ----------
    weights : str, path or torchvision weights entry
        A state-dict file (``.pth/.pt/.safetensors``, e.g. torchvision's ``raft_large_C_T_SKHT_V2-ff5fadd5.pth``
        or ``torch.save(raft.state_dict(), path)``), or a tag (``"DEFAULT"``, ``"C_T_SKHT_V2"``,
        ``Raft_Large_Weights.C_T_V2``) looked up in ``$TORCH_HOME/hub/checkpoints``.
    variant : {"large", "small"}
        ``raft_large`` (5.3 M parameters) or ``raft_small`` (1.0 M).
    %(device)s
    num_flow_updates : int, default 12
        Recurrent refinements per call.

    Returns
    -------
    RAFTFlow

    Raises
    ------
    MissingWeightsError
        No weights given, the file does not exist, or a tag's file is not in torchvision's cache;
        the message names where it looked and how to provide the file.
    InputError
        Unknown variant or tag, or a state dict of another architecture.

    Examples
    --------
    >>> import tempfile, torch
    >>> from torchvision.models.optical_flow import raft_small
    >>> path = tempfile.mktemp(suffix=".pth")
    >>> torch.save(raft_small(weights=None).state_dict(), path)    # stands for downloaded weights
    >>> load_raft(path, variant="small").module.__class__.__name__
    'RAFT'
    """
    if variant not in ("large", "small"):
        raise InputError(f"variant: received {variant!r}; expected 'large' (raft_large) or 'small' (raft_small)")
    from torchvision.models.optical_flow import raft_large, raft_small

    enum = _raft_enum(variant)
    how = (f"on a machine with internet run `torch.save(torchvision.models.optical_flow.raft_{variant}(weights="
           f"{enum.__name__}.DEFAULT).state_dict(), 'raft_{variant}.pth')` (or download "
           f"{os.path.basename(enum.DEFAULT.url)} from {enum.DEFAULT.url}), copy the file here and pass "
           f"weights=<its path>, or put torchvision's file in {torchvision_checkpoint_dir()} and pass "
           "weights='DEFAULT'")
    if weights is None:
        raise MissingWeightsError(f"weights: received None for RAFT {variant}; RAFT needs trained weights and "
                                  f"nothing is downloaded at run time: {how}. For a weight-free estimate use HornSchunck")
    dev = check_device(device)
    module = (raft_large if variant == "large" else raft_small)(weights=None)
    if is_weights_path(weights):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise MissingWeightsError(f"weights: RAFT {variant} weight file {str(path)!r} does not exist (looked in: "
                                      f"{path.parent.resolve()}); {how}")
        apply_state_dict(module, load_state_dict_file(path), str(path))
        source = f"file:{path.resolve()}"
    else:
        entry = _resolve_raft_tag(weights, variant)
        path = find_cached_file(os.path.basename(entry.url), [torchvision_checkpoint_dir()],
                                what=f"RAFT {variant} weights {entry}", how=how)
        apply_state_dict(module, load_state_dict_file(path), str(path))
        source = f"torchvision:{entry} ({path})"
    return RAFTFlow(module, variant=variant, weights=source, num_flow_updates=num_flow_updates, device=dev)
