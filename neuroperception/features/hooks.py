"""Forward hooks that record named layers' outputs during one forward pass."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ..errors import InputError

__all__ = ["record", "check_layers", "first_tensor"]


def check_layers(module: nn.Module, layers) -> list[str]:
    """Validate layer names against the module's named sub-modules (plus ``"output"``).

    Parameters
    ----------
    module : torch.nn.Module
        The network whose ``named_modules()`` are the valid names.
    layers : str or sequence of str
        One name or several; ``"output"`` means the module's own output.

    Returns
    -------
    list of str
        The names, as a list, in the order given.

    Raises
    ------
    InputError
        An empty list, a name that is not a sub-module (with the closest names), or a duplicate.

    Examples
    --------
    >>> import torch.nn as nn
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    >>> check_layers(net, "1")
    ['1']
    >>> check_layers(net, ["0", "output"])
    ['0', 'output']
    """
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise InputError("layers: received an empty list; expected at least one layer name (see layer_names(model))")
    names = dict(module.named_modules())
    for layer in layers:
        if not isinstance(layer, str):
            raise InputError(f"layers: received {layer!r}; expected layer names as strings")
        if layer != "output" and (layer not in names or layer == ""):
            close = difflib.get_close_matches(layer, [n for n in names if n], n=3)
            raise InputError(f"layers: {layer!r} is not a layer of {type(module).__name__}; expected one of "
                             f"layer_names(model)" + (f" (close: {close})" if close else ""))
    dup = sorted({x for x in layers if layers.count(x) > 1})
    if dup:
        raise InputError(f"layers: received duplicated names {dup}; expected each layer once")
    return layers


def first_tensor(value: Any, where: str) -> torch.Tensor:
    """The tensor a layer produced (the first one when it returns a tuple/list).

    Parameters
    ----------
    value : Any
        What a forward hook received as the layer's output.
    where : str
        The layer's name, for the error message.

    Returns
    -------
    torch.Tensor

    Raises
    ------
    InputError
        When ``value`` holds no tensor.

    Examples
    --------
    >>> import torch
    >>> out, state = torch.zeros(2, 3), (torch.ones(1),)
    >>> first_tensor((out, state), "lstm").shape          # a recurrent layer's (output, state)
    torch.Size([2, 3])
    """
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            if isinstance(item, torch.Tensor):
                return item
    raise InputError(f"layer {where!r} returned {type(value).__name__}; expected a tensor (or a tuple holding one)")


def _copy(_layer: str, t: torch.Tensor) -> torch.Tensor:
    return t.clone()


class _StopForward(Exception):
    """Raised inside a hook to end a forward pass once every requested layer is recorded."""


@contextmanager
def record(module: nn.Module, layers: list[str], transform: Callable[[str, torch.Tensor], Any] = _copy,
           detach: bool = True, stop: bool = False):
    """Record the outputs of ``layers`` while the block runs; yields the dict being filled.

    ``transform(layer, output)`` runs inside the hook, before later layers run: the default
    copies the output, because a following in-place operation (``ReLU(inplace=True)``) would
    otherwise change what was recorded; extraction pools there instead, which also avoids
    keeping full maps. A module called several times in one forward pass keeps its last output.
    ``"output"`` is not hooked here: the caller takes the forward's return value. With
    ``detach=False`` the recorded tensors stay in the autograd graph (for differentiable metrics
    and losses on intermediate layers). With ``stop=True`` the forward pass ends as soon as every
    requested layer has been recorded (the rest of the network does not run; the statement that called
    it is abandoned, so take results from the yielded dict only); ``"output"`` cannot be combined with it.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    >>> with record(net, ["0"]) as acts:
    ...     _ = net(torch.zeros(1, 2))
    >>> tuple(acts["0"].shape)
    (1, 3)
    """
    outputs: dict[str, torch.Tensor] = {}
    modules = dict(module.named_modules())
    if stop and "output" in layers:
        raise InputError("record: stop=True cannot record 'output' (the forward pass ends before it); "
                         "expected hooked layers only")
    wanted = {la for la in layers if la != "output"}
    handles = []
    for layer in layers:
        if layer == "output":
            continue

        def hook(_mod, _inp, out, _name=layer):
            t = first_tensor(out, _name)
            outputs[_name] = transform(_name, t.detach() if detach else t)
            if stop and wanted.issubset(outputs):
                raise _StopForward

        handles.append(modules[layer].register_forward_hook(hook))
    try:
        yield outputs
    except _StopForward:
        pass
    finally:
        for h in handles:
            h.remove()
