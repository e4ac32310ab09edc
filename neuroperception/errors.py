"""One exception hierarchy for the whole package.

Every error the package raises on purpose derives from :class:`NeuroperceptionError`, so a caller
can catch all of them at once, while the subclasses also derive from the matching builtin
(``InputError`` is a ``ValueError``, ``MissingWeightsError`` a ``FileNotFoundError``) so code
written against the builtins keeps working.

Examples
--------
>>> from neuroperception.errors import InputError, NeuroperceptionError
>>> try:
...     raise InputError("images: received NaN values; expected finite values in [0, 1]")
... except ValueError as err:
...     isinstance(err, NeuroperceptionError)
True
"""

from __future__ import annotations

__all__ = [
    "NeuroperceptionError",
    "InputError",
    "ShapeError",
    "AlignmentError",
    "MissingWeightsError",
    "StoreMismatchError",
    "RandomWeightsWarning",
]


class NeuroperceptionError(Exception):
    """Base class of every error raised on purpose by neuroperception."""


class InputError(NeuroperceptionError, ValueError):
    """An argument has the wrong value, range, dtype or type.

    The message says what was received and what is expected.
    """


class ShapeError(InputError):
    """An array has the wrong number of dimensions or the wrong size along one of them."""


class AlignmentError(InputError):
    """Two labelled inputs cannot be matched: missing, extra or duplicated ``stimulus_id``."""


class MissingWeightsError(NeuroperceptionError, FileNotFoundError):
    """A weight file was asked for but is not on disk.

    The message names the file and every place that was searched, and how to provide it.
    Nothing is ever downloaded at run time.
    """


class StoreMismatchError(InputError):
    """An existing feature store was written with other settings than the current call."""


class RandomWeightsWarning(UserWarning):
    """A network was built with random weights although no one asked for them.

    :func:`~neuroperception.features.load_model` issues it once per load when ``weights`` is left
    at None and the model has learnable weights: its outputs then carry no learned knowledge.
    Passing ``weights="random"`` says that random weights are intended and silences it; every
    result the model produces records its weights (``"random-init(seed=0)"``) in ``attrs``.

    Examples
    --------
    >>> import warnings
    >>> from neuroperception.features import load_model
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     forgot = load_model("torchvision:squeezenet1_1")                     # warns
    ...     meant = load_model("torchvision:squeezenet1_1", weights="random")    # silent
    >>> [w.category.__name__ for w in caught], meant.weights
    (['RandomWeightsWarning'], 'random-init(seed=0)')
    """
