"""Every public estimator follows scikit-learn: ``fit(X, y)``, ``predict(X)``, ``score(X, y)``, settings in
``__init__`` only, ``get_params`` and ``sklearn.base.clone``.

The test walks the public names (``__all__``) of every subpackage, so a new estimator is checked
without being listed here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from sklearn.base import BaseEstimator, clone

import neuroperception

#: Public classes with a ``fit`` that are not scikit-learn estimators, and why.
NOT_ESTIMATORS = {
    "neuroperception.features.PCA": "a pooling of feature extraction, fitted by extract() on its fit_on images",
    "neuroperception.rewards.PreferenceReward": "a RewardFunction (a torch module used in RL loops); fit(X, y) and "
                                                "score(X, y) take images and judgements",
}


def _public_classes():
    found = {}
    for info in pkgutil.iter_modules(neuroperception.__path__):
        if info.name.startswith("_") or not info.ispkg:
            continue
        module = importlib.import_module(f"neuroperception.{info.name}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj):
                found.setdefault(obj, f"neuroperception.{info.name}.{name}")
    return found


CLASSES = _public_classes()
ESTIMATORS = sorted(((path, cls) for cls, path in CLASSES.items()
                     if issubclass(cls, BaseEstimator) and not inspect.isabstract(cls)), key=lambda t: t[0])


def _params(method) -> list[inspect.Parameter]:
    return list(inspect.signature(method).parameters.values())[1:]  # without self


def test_the_walk_finds_the_estimators():
    names = {path.rsplit(".", 1)[1] for path, _ in ESTIMATORS}
    assert {"RidgeCV", "BandedRidgeCV", "FactorizedReadout", "AttentionReadout", "RidgeDecoder",
            "ContrastiveDecoder", "FlowDecoder", "FlowBasis"} <= names


def test_every_public_class_with_fit_is_an_estimator():
    offenders = [path for cls, path in CLASSES.items()
                 if callable(getattr(cls, "fit", None)) and not issubclass(cls, BaseEstimator)
                 and path not in NOT_ESTIMATORS]
    assert not offenders, f"public classes with fit() that are not scikit-learn estimators: {offenders}"


@pytest.mark.parametrize("path,cls", ESTIMATORS, ids=[p for p, _ in ESTIMATORS])
def test_fit_predict_score_argument_names(path, cls):
    fit = _params(cls.fit)
    assert [p.name for p in fit] in (["X", "y"], ["X"]), f"{path}.fit{inspect.signature(cls.fit)}: expected fit(X, y)"
    assert fit[0].default is inspect.Parameter.empty
    if fit[-1].name == "y" and cls.__name__ == "FlowBasis":
        assert fit[-1].default is None  # an unsupervised fit takes y=None, as scikit-learn's transformers
    for name in ("predict", "transform"):
        method = getattr(cls, name, None)
        if method is None:
            continue
        params = _params(method)
        assert params[0].name == "X", f"{path}.{name}{inspect.signature(method)}: expected {name}(X, ...)"
        assert all(p.default is not inspect.Parameter.empty for p in params[1:]), \
            f"{path}.{name}: options after X need defaults"
    if hasattr(cls, "score"):
        names = [p.name for p in _params(cls.score)]
        assert names in (["X", "y"], ["X", "y", "sample_weight"]), \
            f"{path}.score{inspect.signature(cls.score)}: expected score(X, y[, sample_weight])"


@pytest.mark.parametrize("path,cls", ESTIMATORS, ids=[p for p, _ in ESTIMATORS])
def test_settings_live_in_init_and_clone_works(path, cls):
    init = _params(cls.__init__)
    assert all(p.default is not inspect.Parameter.empty for p in init), f"{path}: every setting needs a default"
    assert all(p.kind is not p.VAR_POSITIONAL and p.kind is not p.VAR_KEYWORD for p in init)
    params = cls().get_params()
    assert sorted(params) == sorted(p.name for p in init)
    # __init__ stores every setting as given (checked later, in fit): arbitrary objects survive it and clone
    given = {name: object() for name in params}
    est = cls(**given)
    assert all(est.get_params()[name] is value for name, value in given.items())
    copy = clone(cls(**params))  # clone itself checks that the copy holds the very parameters it was given
    assert copy.get_params().keys() == params.keys()


def test_validation_is_a_setting_of_the_trained_estimators():
    from neuroperception.decoding import ContrastiveDecoder
    from neuroperception.encoding import AttentionReadout, FactorizedReadout

    for cls in (FactorizedReadout, AttentionReadout, ContrastiveDecoder):
        assert "validation" in cls().get_params() and clone(cls(validation=None)).validation is None
        assert "validation" not in inspect.signature(cls.fit).parameters
