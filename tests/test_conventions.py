"""Seeds, devices, progress bars and shared defaults: the rules of ``docs/conventions.md``, enforced.

The walk covers every public callable: the functions and classes in each subpackage's ``__all__``
(and in the public modules listed there), each class's ``__init__`` and public methods, including
those it inherits from the package's own base classes. Mechanical checks: no parameter is called
``seed``; ``random_state`` defaults to 0, ``device`` and ``progress`` to None; a shared parameter has
one default; parameter names are ASCII; a documented shared parameter carries the shared
description. Every callable that takes ``random_state`` is called (on tiny inputs) with 0, a
``numpy.random.Generator`` and None, and with ``1.5`` and ``True``, which must be an ``InputError``.
The resolvers themselves, the progress rule and ``fill_doc`` are tested at the end.
"""

from __future__ import annotations

import importlib
import inspect
import io
import re
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

import neuroperception
from neuroperception import _docs, _progress
from neuroperception._validation import check_device, check_random_state, seed_from
from neuroperception.errors import InputError

PACKAGE = Path(neuroperception.__file__).parent
SUBPACKAGES = ["stimuli", "world", "features", "data", "encoding", "decoding", "similarity", "scanpaths",
               "alignment", "behaviour", "rewards", "plotting", "demo"]

#: The defaults the conventions fix.
RULES = {"random_state": 0, "device": None, "progress": None}

#: (callable, parameter): why it departs from the rule.
EXCEPTIONS = {
    ("scanpaths.auc_judd", "random_state"):
        "pysaliency's default seed 42, so that the default AUC-Judd equals pysaliency's AUC_Judd",
    ("rewards.ReachEnv.reset", "seed"): "gymnasium's Env.reset(seed=None, options=None), which the env implements",
    ("rewards.WorldPaintEnv.reset", "seed"): "gymnasium's Env.reset(seed=None, options=None), which the env implements",
    ("rewards.PerceptualRewardVectorWrapper.reset", "seed"): "gymnasium's vector-env reset(seed=None, options=None)",
}

#: Shared parameters (described in neuroperception._docs.PARAMETERS) whose default may differ, and why.
DEFAULT_MAY_DIFFER = {
    "batch_size": "what fits in memory depends on what one item costs (an image, a video, a judgement triplet)",
    "weights": "world.build_world_model ships trained weights, so its default is 'shipped', not a random init",
}


# ------------------------------------------------------------------------------------------- the walk
def _members(klass: type) -> list[tuple[str, types.FunctionType]]:
    out = []
    for base in klass.__mro__:
        if not base.__module__.startswith("neuroperception"):
            continue
        for name, member in vars(base).items():
            if name != "__init__" and (name.startswith("_") or isinstance(member, property)):
                continue
            func = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
            if inspect.isfunction(func):
                out.append((f"{base.__qualname__}.{name}", func))
    return out


def _walk() -> dict[str, types.FunctionType]:
    found: dict[str, types.FunctionType] = {}
    seen: set[int] = set()

    def add(prefix: str, obj) -> None:
        entries = _members(obj) if inspect.isclass(obj) else [(obj.__name__, obj)] if inspect.isfunction(obj) else []
        for name, func in entries:
            if id(func) not in seen:
                seen.add(id(func))
                found[f"{prefix}.{name}"] = func

    modules = []
    for sub in SUBPACKAGES:  # names re-exported by a subpackage are named there, public modules after
        module = importlib.import_module(f"neuroperception.{sub}")
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType):
                modules.append((f"{sub}.{name}", obj))
            else:
                add(sub, obj)
    for prefix, module in modules:
        for inner in getattr(module, "__all__", []):
            add(prefix, getattr(module, inner))
    for name in neuroperception.__all__:
        add("neuroperception", getattr(neuroperception, name))
    return found


CALLABLES = _walk()


def _parameters(name: str) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(CALLABLES[name]).parameters.values())
    except (TypeError, ValueError):  # pragma: no cover - builtins have no signature
        return []


def _taking(parameter: str) -> list[str]:
    return sorted(n for n in CALLABLES if any(p.name == parameter for p in _parameters(n)))


def test_the_walk_finds_the_public_api():
    assert len(CALLABLES) > 300
    for name in ("features.load_model", "encoding.RidgeCV.__init__", "stimuli.procedural.bandpass_noise",
                 "scanpaths._NevaSearch.__init__", "neuroperception.set_progress"):
        assert name in CALLABLES


# ----------------------------------------------------------------------------------- static rules
def test_no_parameter_is_called_seed():
    offenders = [n for n in CALLABLES if any(p.name == "seed" for p in _parameters(n)) and (n, "seed") not in EXCEPTIONS]
    assert not offenders, f"seed= is random_state= in this package: {offenders}"


@pytest.mark.parametrize("parameter", sorted(RULES))
def test_shared_parameters_have_the_conventional_default(parameter):
    offenders = []
    for name in _taking(parameter):
        p = next(p for p in _parameters(name) if p.name == parameter)
        if p.default is not p.empty and p.default != RULES[parameter] and (name, parameter) not in EXCEPTIONS:
            offenders.append(f"{name}({parameter}={p.default!r})")
        if p.default is not p.empty and p.default is not RULES[parameter] and isinstance(p.default, bool):
            offenders.append(f"{name}({parameter}={p.default!r})")  # False == 0: a bool is never a seed
    assert not offenders, f"expected {parameter}={RULES[parameter]!r}: {offenders}"


def test_exceptions_still_exist():
    for name, parameter in EXCEPTIONS:
        assert name in CALLABLES and parameter in [p.name for p in _parameters(name)], (name, parameter)


def test_each_shared_parameter_has_one_default():
    offenders = {}
    for parameter in _docs.PARAMETERS:
        if parameter in DEFAULT_MAY_DIFFER:
            continue
        defaults = {repr(p.default) for n in _taking(parameter) for p in _parameters(n)
                    if p.name == parameter and p.default is not p.empty and (n, parameter) not in EXCEPTIONS}
        if len(defaults) > 1:
            offenders[parameter] = sorted(defaults)
    assert not offenders, f"one default per shared parameter: {offenders}"


def test_parameter_names_are_ascii():
    offenders = [f"{n}({p.name})" for n in CALLABLES for p in _parameters(n) if not p.name.isascii()]
    assert not offenders


def _documented(name: str) -> str:
    func = CALLABLES[name]
    if func.__name__ == "__init__":
        owner = getattr(inspect.getmodule(func), func.__qualname__.split(".")[0], None)
        return (owner.__doc__ or "") + (func.__doc__ or "")
    return func.__doc__ or ""


def _parameters_section(doc: str) -> str:
    """The numpy ``Parameters`` section of a docstring (up to the next section header)."""
    match = re.search(r"^\s*Parameters\n\s*-{3,}\n(.*?)(?=^\s*\w[\w ]*\n\s*-{3,}\n|\Z)", doc, re.M | re.S)
    return match.group(1) if match else ""


@pytest.mark.parametrize("parameter", sorted(RULES))
def test_documented_shared_parameters_use_the_shared_description(parameter):
    header = _docs.PARAMETERS[parameter].splitlines()[0]
    offenders = []
    for name in _taking(parameter):
        doc = _parameters_section(_documented(name))
        if re.search(rf"^\s*{parameter} :", doc, re.M) and header not in doc and (name, parameter) not in EXCEPTIONS:
            offenders.append(name)
    assert not offenders, f"document {parameter} with %({parameter})s (neuroperception._docs): {offenders}"


def test_no_placeholder_is_left_unfilled():
    offenders = [n for n in CALLABLES if "%(" in _documented(n)]
    assert not offenders


def _source_files():
    return [p for p in PACKAGE.rglob("*.py") if "weights" not in p.parts]


def test_one_helper_draws_progress_bars():
    offenders = [str(p.relative_to(PACKAGE)) for p in _source_files()
                 if p.name != "_progress.py" and re.search(r"^\s*(from tqdm|import tqdm)", p.read_text(), re.M)]
    assert not offenders, f"draw bars with neuroperception._progress.progress_bar: {offenders}"


def test_one_resolver_for_seeds_and_devices():
    patterns = {
        r"default_rng\(\s*(int\()?\s*(self\.)?random_state": "seeds: use check_random_state or seed_from",
        r"int\(\s*(self\.)?random_state\s*\)": "seeds: use seed_from",
        r"def (check|resolve)_device\b": "devices: use _validation.check_device",
        r"device\s*==\s*['\"]auto['\"]": "devices: None is the automatic choice",
    }
    offenders = []
    for path in _source_files():
        if path.name == "_validation.py":
            continue
        text = path.read_text()
        offenders += [f"{path.relative_to(PACKAGE)}: {why}" for pat, why in patterns.items() if re.search(pat, text)]
    assert not offenders, offenders


# ------------------------------------------------------------------------- every random_state, called
@pytest.fixture(scope="module")
def world():
    from neuroperception.world import render_scenes

    return render_scenes(120, size=32, n_objects=1, random_state=0)


@pytest.fixture(scope="module")
def squeeze_lpips():
    from neuroperception.similarity import LPIPS

    return LPIPS("squeeze", "random", None)       # net, its weights (random on purpose), uniform heads


@pytest.fixture(scope="module")
def tiny_clip():
    from neuroperception.features import load_model, register_clip_architecture

    return load_model(register_clip_architecture("ConventionsTiny-ViT"), weights="random", device="cpu")


def _maps(n=24):
    g = np.random.default_rng(0)
    return xr.DataArray(g.normal(size=(n, 2, 3, 3)), dims=("stimulus", "channel", "y", "x"))


def _xy(n=20, p=3, v=2):
    g = np.random.default_rng(0)
    x = g.normal(size=(n, p))
    return x, x @ g.normal(size=(p, v)) + 0.1 * g.normal(size=(n, v))


def _triplets():
    return pd.DataFrame({"triplet": [0, 1, 2, 3], "delta_low": [-0.5, 0.5, 0.2, -0.1],
                         "delta_high": [0.2, 0.0, -0.3, 0.4]})


def _pair_images(n=2, size=16):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, size, size, generator=g), torch.rand(n, 3, size, size, generator=g)


def _search_display():
    from neuroperception.stimuli.search_arrays import search_array

    return search_array("Q", "O", 2, size=32, n=1)


def _ablation_inputs():
    from neuroperception.data import make_responses

    g = np.random.default_rng(0)
    z = g.normal(size=(16, 2))
    r = make_responses(np.hstack([z @ g.normal(size=(2, 2)), g.normal(size=(16, 2))]), roi=["IT"] * 2 + ["V1"] * 2)
    return r, xr.DataArray(z, dims=("stimulus", "feature"), coords={"stimulus_id": r["stimulus_id"]})


def _human():
    from neuroperception.scanpaths import Scanpaths

    table = pd.DataFrame({"scanpath": [0, 0], "fixation": [0, 1], "stimulus_id": ["a", "a"], "x": [1.0, 5.0],
                          "y": [1.0, 5.0]})
    return Scanpaths(table, {"a": (8, 8)})


def _calls(request) -> dict:
    """One cheap call per public callable that takes ``random_state``: ``name -> f(random_state)``."""
    from neuroperception import alignment, behaviour, data, decoding, encoding, features, rewards, scanpaths
    from neuroperception import similarity
    from neuroperception import stimuli, world as w
    from neuroperception.stimuli import procedural, search_arrays

    def world_():
        return request.getfixturevalue("world")

    def tiny_clip():
        return request.getfixturevalue("tiny_clip")

    flows = np.arange(4.0)[:, None, None, None] * np.ones((4, 2, 4, 4))
    sizes = {"a": (10, 10)}
    fix = np.array([[3, 3]])
    obj_rows = [dict(category="square", colour="green", texture="striped", size_name="small", x=5, y=5),
                dict(category="circle", colour="red", texture="plain", size_name="large", x=40, y=9)]
    return {
        "stimuli.procedural.bandpass_noise": lambda rs: procedural.bandpass_noise(n=1, size=16, random_state=rs),
        "stimuli.search_arrays.search_array":
            lambda rs: search_arrays.search_array("Q", "O", 2, size=32, n=1, random_state=rs),
        "stimuli.search_arrays.search_arrays":
            lambda rs: search_arrays.search_arrays([("Q", "O")], (2,), n_per=1, size=32, random_state=rs),
        "stimuli.ImageSet.random_crops":
            lambda rs: stimuli.ImageSet.from_array(_pair_images()[0]).random_crops(2, 8, random_state=rs),
        "stimuli.moving_dots": lambda rs: stimuli.moving_dots(directions=(0,), speeds=(1.0,), size=16, n_frames=2,
                                                               random_state=rs),
        "stimuli.flowing_textures": lambda rs: stimuli.flowing_textures(n=1, size=16, n_frames=2,
                                                                         components=("translation",), random_state=rs),
        "world.render_scenes": lambda rs: w.render_scenes(1, size=32, random_state=rs),
        "world.render_episodes": lambda rs: w.render_episodes(1, kind="move", n_frames=4, size=32, random_state=rs),
        "world.caption_for": lambda rs: w.caption_for(obj_rows, random_state=rs),
        "features.SparseRandomProjection.__init__":
            lambda rs: features.SparseRandomProjection(4, random_state=rs).pool(torch.rand(2, 3, 2, 2)),
        "features.load_model": lambda rs: features.load_model("gabor", device="cpu", random_state=rs),
        "features.reduce_features":
            lambda rs: features.reduce_features(xr.DataArray(np.eye(6, 20, dtype=np.float32),
                                                             dims=("stimulus", "feature")), "srp:3", random_state=rs),
        "data.noise_ceiling": lambda rs: data.noise_ceiling(np.random.default_rng(0).normal(size=(3, 6, 2)),
                                                            "split_half", n_splits=2, random_state=rs),
        "data.simulate_brain": lambda rs: data.simulate_brain(
            xr.DataArray(np.random.default_rng(0).normal(size=(12, 4)), dims=("stimulus", "feature")),
            n_voxels=6, random_state=rs),
        "data.simulate_subjects": lambda rs: data.simulate_subjects(
            xr.DataArray(np.random.default_rng(0).normal(size=(12, 4)), dims=("stimulus", "feature")),
            n_subjects=2, n_voxels=6, n_components=3, random_state=rs),
        "alignment.SharedResponseModel.__init__": lambda rs: alignment.SharedResponseModel(
            n_components=2, n_iter=2, random_state=rs).fit({s: data.make_responses(_xy()[1][::k]) for s, k in
                                                            (("a", 1), ("b", -1))}),
        "decoding.SharedSpaceDecoder.__init__": lambda rs: decoding.SharedSpaceDecoder(
            n_components=2, n_iter=2, alphas=[1.0], cv=2, random_state=rs).fit(
            {s: data.make_responses(_xy()[0] @ np.ones((3, 4))[:, ::k] + _xy()[1][:, :1], [f"s{i}" for i in range(20)])
             for s, k in (("a", 1), ("b", -1))},
            xr.DataArray(_xy()[0], dims=("stimulus", "feature"),
                         coords={"stimulus_id": ("stimulus", [f"s{i}" for i in range(20)])})),
        "decoding.SharedSpaceEncoder.__init__": lambda rs: decoding.SharedSpaceEncoder(
            n_components=2, n_iter=2, alphas=[1.0], cv=2, random_state=rs).fit(
            xr.DataArray(_xy()[0], dims=("stimulus", "feature"),
                         coords={"stimulus_id": ("stimulus", [f"s{i}" for i in range(20)])}),
            {s: data.make_responses(_xy()[0] @ np.ones((3, 4))[:, ::k] + _xy()[1][:, :1], [f"s{i}" for i in range(20)])
             for s, k in (("a", 1), ("b", -1))}),
        "encoding.BandedRidgeCV.__init__": lambda rs: encoding.BandedRidgeCV(n_iter=2, n_refine=1, random_state=rs)
            .fit({"a": _xy()[0][:, :2], "b": _xy()[0][:, 2:]}, _xy()[1]),
        "encoding.FactorizedReadout.__init__": lambda rs: encoding.FactorizedReadout(
            max_epochs=1, device="cpu", random_state=rs).fit(_maps(), _maps().values[:, 0, 1, 1:2]),
        "encoding.AttentionReadout.__init__": lambda rs: encoding.AttentionReadout(
            n_heads=1, dim=4, max_epochs=1, device="cpu", random_state=rs).fit(_maps(), _maps().values[:, 0, 1, 1:2]),
        "encoding.dirichlet_candidates": lambda rs: encoding.dirichlet_candidates(3, 2, random_state=rs),
        "encoding.fit_encoding_model": lambda rs: encoding.fit_encoding_model(*_xy(), random_state=rs),
        "encoding.score_pvalues": lambda rs: encoding.score_pvalues(_xy()[1], _xy()[1] + 1.0, method="permutation",
                                                                    n_permutations=9, random_state=rs),
        "decoding.ContrastiveDecoder.__init__": lambda rs: decoding.ContrastiveDecoder(
            max_epochs=1, device="cpu", random_state=rs).fit(*_xy(n=16)),
        "decoding.flow_decoding_report":
            lambda rs: decoding.flow_decoding_report(flows + 0.1, flows, n_shuffles=2, random_state=rs),
        "decoding.shuffle_baseline": lambda rs: decoding.shuffle_baseline(flows + 0.1, flows, n_shuffles=2,
                                                                          random_state=rs),
        "decoding.retrieval_accuracy": lambda rs: decoding.retrieval_accuracy(*_xy(n=10, v=3), k=1, n_way=2,
                                                                              n_repeats=2, random_state=rs),
        "decoding.roi_ablation": lambda rs: decoding.roi_ablation(decoding.RidgeDecoder(alphas=[1.0]),
                                                                  *_ablation_inputs(), random_state=rs),
        "decoding.roi_ablation_subjects": lambda rs: decoding.roi_ablation_subjects(
            decoding.RidgeDecoder(alphas=[1.0]), {"a": _ablation_inputs()[0]}, _ablation_inputs()[1], random_state=rs),
        "decoding.cross_subject_decoding": lambda rs: decoding.cross_subject_decoding(
            decoding.RidgeDecoder(alphas=[1.0]), {"a": _ablation_inputs()[0], "b": _ablation_inputs()[0] + 1.0},
            _ablation_inputs()[1], test=0.25, random_state=rs),
        "behaviour.BehaviouralAlignment.__init__": lambda rs: behaviour.BehaviouralAlignment(
            max_iter=2, random_state=rs).fit(np.eye(4), np.array([[0, 1, 2], [1, 2, 3]])),
        "rewards.PreferenceReward.__init__": lambda rs: rewards.PreferenceReward(
            lambda x: x.mean(dim=(2, 3)), max_epochs=1, validation=None, random_state=rs).fit(
            {"a": torch.zeros(3, 8, 8), "b": torch.ones(3, 8, 8)},
            pd.DataFrame({"first": ["a"], "second": ["b"], "label": [1.0]})),
        "rewards.OrderDebiasedJudge.position_bias": lambda rs: rewards.OrderDebiasedJudge(similarity.L2())
            .position_bias(torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8), torch.zeros(1, 3, 8, 8), n_bootstrap=5,
                           random_state=rs),
        "similarity.EmbeddingDistance.__init__":
            lambda rs: similarity.EmbeddingDistance("gabor", layer="scale1", random_state=rs),
        "similarity.EnsembleDistance.__init__": lambda rs: similarity.EnsembleDistance(["gabor"], random_state=rs),
        "similarity.LPIPS.__init__":
            lambda rs: similarity.LPIPS("squeeze", "random", None, random_state=rs),
        "similarity.bootstrap_rdm_comparison": lambda rs: similarity.bootstrap_rdm_comparison(
            _xy(n=6)[0], similarity.compute_rdm(_xy(n=6)[0] + 0.1), n_bootstrap=3, method="pearson",
            random_state=rs),
        "similarity.calibrate_heads": lambda rs: similarity.calibrate_heads(
            request.getfixturevalue("squeeze_lpips"), (*_pair_images(size=32), _pair_images(size=32)[0],
                                                       torch.zeros(2)), epochs=1, random_state=rs),
        "scanpaths._NevaSearch.__init__": lambda rs: scanpaths.NeVA(n_fixations=1, steps=1, device="cpu",
                                                                     random_state=rs).predict(_pair_images(1)[0]),
        "scanpaths.NevaClip.__init__": lambda rs: scanpaths.NevaClip(tiny_clip(), n_fixations=1, device="cpu",
                                                                     random_state=rs),
        "scanpaths.RandomSearch.__init__":
            lambda rs: scanpaths.RandomSearch(max_fixations=2, random_state=rs).search(_search_display()),
        "scanpaths.VisualSearch.__init__":
            lambda rs: scanpaths.VisualSearch("torchvision:squeezenet1_1", weights="random", device="cpu",
                                              max_fixations=1, random_state=rs),
        "scanpaths.auc_judd": lambda rs: scanpaths.auc_judd(np.arange(16.0).reshape(4, 4), fix, random_state=rs),
        "scanpaths.center_scanpaths": lambda rs: scanpaths.center_scanpaths(sizes, 2, random_state=rs),
        "scanpaths.random_scanpaths": lambda rs: scanpaths.random_scanpaths(sizes, 2, random_state=rs),
        "scanpaths.evaluate_scanpath_model": lambda rs: scanpaths.evaluate_scanpath_model(
            _human(), torch.rand(1, 3, 8, 8), _human(), metrics=[lambda a, b: 0.0], stimulus_id=["a"],
            n_baseline=1, random_state=rs),
        "scanpaths.search_asymmetry_experiment": lambda rs: scanpaths.search_asymmetry_experiment(
            scanpaths.RandomSearch(max_fixations=2), pairs=[("Q", "O")], set_sizes=(2, 3), n_trials=1, size=32,
            random_state=rs),
        "scanpaths.simulate_scanpaths": lambda rs: scanpaths.simulate_scanpaths(world_(), n_observers=1,
                                                                                n_fixations=2, random_state=rs),
        "behaviour.attribute_triplets": lambda rs: behaviour.attribute_triplets(world_(), 2, random_state=rs),
        "behaviour.simulate_judgements": lambda rs: behaviour.simulate_judgements(
            behaviour.attribute_triplets(world_(), 2), {"colour": 1.0, "shape": 1.0}, n_observers=1,
            random_state=rs),
        "behaviour.candidate_pool": lambda rs: behaviour.candidate_pool(2, size=16, photo_fraction=0.0,
                                                                        random_state=rs),
        "behaviour.export_experiment": lambda rs: behaviour.export_experiment(
            pd.DataFrame({"triplet": [0], "ref": ["r"], "option_a": ["a"], "option_b": ["b"]}),
            stimuli.ImageSet.from_array(torch.rand(3, 3, 8, 8), ["r", "a", "b"]),
            request.getfixturevalue("tmp_path") / "exp", overwrite=True, random_state=rs),
        "behaviour.fit_choice_model": lambda rs: behaviour.fit_choice_model(
            _triplets(), behaviour.simulate_observers(_triplets(), 2.0, 1.0, n_observers=3), n_bootstrap=3,
            random_state=rs),
        "behaviour.simulate_observers": lambda rs: behaviour.simulate_observers(_triplets(), 1.0, 0.0,
                                                                                random_state=rs),
        "behaviour.generate_triplets": lambda rs: behaviour.generate_triplets(
            {k: xr.DataArray(np.random.default_rng(i).normal(size=(60, 4)), dims=("stimulus", "feature"),
                             coords={"stimulus_id": ("stimulus", [f"s{j}" for j in range(60)])})
             for i, k in enumerate(("low", "high"))}, n_triplets=4, n_bins=2, pca=None, random_state=rs),
        "rewards.TextGoalReward.__init__": lambda rs: rewards.TextGoalReward(tiny_clip(), "a cat", random_state=rs),
        "rewards.TransformAveragedReward.__init__": lambda rs: rewards.TransformAveragedReward(
            lambda x: x.mean(dim=(1, 2, 3)), n_transforms=2, random_state=rs)(torch.rand(1, 3, 8, 8)),
        "rewards.reward_sensitivity": lambda rs: rewards.reward_sensitivity(
            lambda x: x.mean(dim=(1, 2, 3)), torch.rand(1, 3, 8, 8), eps=0.01, steps=1, random_start=True,
            random_state=rs),
        "rewards.attack_table": lambda rs: rewards.attack_table(
            {"mean": lambda x: x.mean(dim=(1, 2, 3))}, torch.rand(2, 3, 8, 8), 0.01, n_transforms=2, steps=1,
            random_state=rs),
    }


#: Callables taking random_state that are called elsewhere, with the reason.
CALLED_ELSEWHERE = {
    "world.caption_scores": "needs a trained world CLIP and its tokenizer: tests/test_world_models.py",
    "world.probe_layers": "trains linear probes on hundreds of scenes: tests/test_world_models.py",
}


def test_every_random_state_is_called_here():
    missing = sorted(set(_taking("random_state")) - set(_CALL_NAMES) - set(CALLED_ELSEWHERE))
    assert not missing, f"add a cheap call to _calls() in tests/test_conventions.py: {missing}"


_CALL_NAMES = [
    "stimuli.procedural.bandpass_noise", "stimuli.search_arrays.search_array", "stimuli.search_arrays.search_arrays",
    "stimuli.ImageSet.random_crops", "stimuli.moving_dots", "stimuli.flowing_textures", "world.render_scenes",
    "world.render_episodes", "world.caption_for", "features.SparseRandomProjection.__init__", "features.load_model",
    "features.reduce_features",
    "data.noise_ceiling", "data.simulate_brain", "data.simulate_subjects", "alignment.SharedResponseModel.__init__",
    "encoding.BandedRidgeCV.__init__",
    "encoding.FactorizedReadout.__init__", "encoding.AttentionReadout.__init__", "encoding.dirichlet_candidates",
    "encoding.fit_encoding_model", "encoding.score_pvalues", "decoding.ContrastiveDecoder.__init__", "decoding.SharedSpaceDecoder.__init__",
    "decoding.SharedSpaceEncoder.__init__",
    "decoding.flow_decoding_report", "decoding.shuffle_baseline", "decoding.retrieval_accuracy",
    "decoding.roi_ablation", "decoding.roi_ablation_subjects", "decoding.cross_subject_decoding",
    "similarity.EmbeddingDistance.__init__", "similarity.EnsembleDistance.__init__",
    "similarity.LPIPS.__init__", "similarity.bootstrap_rdm_comparison", "similarity.calibrate_heads",
    "scanpaths._NevaSearch.__init__", "scanpaths.NevaClip.__init__", "scanpaths.RandomSearch.__init__",
    "scanpaths.VisualSearch.__init__", "scanpaths.auc_judd", "scanpaths.center_scanpaths",
    "scanpaths.random_scanpaths", "scanpaths.evaluate_scanpath_model", "scanpaths.search_asymmetry_experiment",
    "scanpaths.simulate_scanpaths", "behaviour.attribute_triplets", "behaviour.simulate_judgements",
    "behaviour.candidate_pool", "behaviour.export_experiment", "behaviour.fit_choice_model",
    "behaviour.simulate_observers", "behaviour.generate_triplets", "rewards.TextGoalReward.__init__",
    "rewards.TransformAveragedReward.__init__", "rewards.reward_sensitivity", "rewards.attack_table",
    "rewards.OrderDebiasedJudge.position_bias", "rewards.PreferenceReward.__init__",
    "behaviour.BehaviouralAlignment.__init__",
]


@pytest.mark.parametrize("name", _CALL_NAMES)
def test_random_state_takes_an_int_a_generator_or_none_and_nothing_else(name, request):
    call = _calls(request)[name]
    for good in (np.random.default_rng(1), None):  # an int is what every other test passes
        call(good)
    for bad in (1.5, True):
        with pytest.raises(InputError, match=r"random_state: received"):
            call(bad)


def test_an_int_seed_gives_the_numbers_of_default_rng():
    """Regression: converting to the resolver kept the numbers of ``default_rng(int)``."""
    from neuroperception.stimuli.procedural import bandpass_noise

    assert check_random_state(3).integers(10**9) == np.random.default_rng(3).integers(10**9)
    a, b = bandpass_noise(n=1, size=16, random_state=3), bandpass_noise(n=1, size=16, random_state=3)
    assert torch.equal(a.images, b.images) and a.ids[0].endswith("seed=3/0")
    gen = bandpass_noise(n=1, size=16, random_state=np.random.default_rng(5))
    recorded = int(re.search(r"seed=(\d+)/", gen.ids[0]).group(1))
    assert torch.equal(gen.images, bandpass_noise(n=1, size=16, random_state=recorded).images)


# -------------------------------------------------------------------------------------- the resolvers
def test_check_random_state():
    g = np.random.default_rng(0)
    assert check_random_state(g) is g
    assert isinstance(check_random_state(None), np.random.Generator)
    assert check_random_state(np.int64(4)).integers(100) == np.random.default_rng(4).integers(100)
    for bad, shown in ((1.5, "float 1.5"), (True, "bool True"), (-1, "int -1"), ("0", "str '0'"),
                       (np.random.RandomState(0), "RandomState")):
        with pytest.raises(InputError, match=f"random_state: received {re.escape(shown)}; expected an int >= 0"):
            check_random_state(bad)
    with pytest.raises(InputError, match="legacy RandomState"):
        check_random_state(np.random.RandomState(0))
    with pytest.raises(InputError, match="^seed_of_noise: received"):
        check_random_state(2.0, name="seed_of_noise")


def test_seed_from():
    assert seed_from(7) == 7 and type(seed_from(np.int32(7))) is int
    a, b = np.random.default_rng(0), np.random.default_rng(0)
    assert seed_from(a) == seed_from(b) and seed_from(a) != seed_from(np.random.default_rng(0))  # a advanced
    assert 0 <= seed_from(None) < 2**63
    with pytest.raises(InputError):
        seed_from(0.5)


def test_check_device():
    cuda = torch.cuda.is_available()
    assert check_device(None).type == ("cuda" if cuda else "cpu")
    assert check_device("cpu") == torch.device("cpu") == check_device(torch.device("cpu"))
    for bad in ("auto", "gpu", 0, 1.5):
        with pytest.raises(InputError, match="device: received .*expected None \\(CUDA when available"):
            check_device(bad)
    n = torch.cuda.device_count() if cuda else 0
    with pytest.raises(InputError, match=f"but this machine has {n} CUDA device"):
        check_device(f"cuda:{n}")


def test_classes_refuse_an_unknown_device():
    from neuroperception.encoding import FactorizedReadout, RidgeCV
    from neuroperception.features import HornSchunck, load_model

    x, y = _xy()
    with pytest.raises(InputError, match="device: received 'auto'"):
        RidgeCV(backend="torch", device="auto").fit(x, y)
    with pytest.raises(InputError, match="device: received 'gpu'"):
        FactorizedReadout(device="gpu").fit(_maps(), _maps().values[:, 0, 1, 1:2])
    with pytest.raises(InputError, match="device: received 'auto'"):
        load_model("gabor", device="auto")
    with pytest.raises(InputError, match="device: received 'auto'"):
        HornSchunck(device="auto")


# ------------------------------------------------------------------------------------ progress bars
@pytest.fixture
def tty(monkeypatch):
    """An interactive session outside CI, with the switch back at its default afterwards."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(_progress.ENV_VAR, raising=False)
    monkeypatch.setattr(_progress, "_interactive", lambda: True)
    previous = neuroperception.set_progress(None)
    yield monkeypatch
    neuroperception.set_progress(previous)


def test_progress_auto_shows_bars_in_an_interactive_session(tty):
    assert _progress.show_progress(None) is True
    assert _progress.show_progress(False) is False


def test_progress_switch_env_var_ci_and_non_terminals(tty):
    tty.setenv(_progress.ENV_VAR, "0")
    assert not _progress.show_progress(None)
    assert _progress.show_progress(True)                     # forcing wins over the switch
    tty.setenv(_progress.ENV_VAR, "1")
    assert _progress.show_progress(None)
    assert neuroperception.set_progress(False) is None       # the switch wins over the env var
    assert not _progress.show_progress(None) and neuroperception.get_progress() is False
    neuroperception.set_progress(None)
    tty.setenv("CI", "true")
    assert not _progress.show_progress(None)
    tty.delenv("CI")
    tty.setattr(_progress, "_interactive", lambda: False)
    assert not _progress.show_progress(None)
    tty.setenv(_progress.ENV_VAR, "maybe")
    with pytest.raises(InputError, match="NEUROPERCEPTION_PROGRESS: received 'maybe'; expected 0 or 1"):
        _progress.show_progress(None)


def test_progress_refuses_what_is_not_a_bool_or_none(tty):
    for bad in (1, "yes", 0.0):
        with pytest.raises(InputError, match="progress: received"):
            _progress.show_progress(bad)
    with pytest.raises(InputError, match="enabled: received"):
        neuroperception.set_progress("off")


def test_progress_bar_is_drawn_only_when_shown(tty):
    stream = io.StringIO()
    assert list(_progress.progress_bar(range(3), None, desc="counting", file=stream)) == [0, 1, 2]
    assert "counting" in stream.getvalue()
    neuroperception.set_progress(False)
    quiet = io.StringIO()
    assert list(_progress.progress_bar(range(3), None, desc="counting", file=quiet)) == [0, 1, 2]
    assert quiet.getvalue() == ""


def test_a_long_call_shows_its_bar_by_the_rule(tty, capsys):
    from neuroperception.features import extract

    images = torch.rand(2, 3, 32, 32)
    extract("gabor", images, ["scale0"])
    assert "extract gabor" in capsys.readouterr().err
    neuroperception.set_progress(False)
    extract("gabor", images, ["scale0"])
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------------------- fill_doc
def test_fill_doc_fills_entries_at_the_placeholders_indentation():
    @_docs.fill_doc
    def f(random_state=0):
        """Do.

        Parameters
        ----------
        %(random_state)s
            It seeds f.
        """

    lines = f.__doc__.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("random_state :"))
    indent = len(lines[start]) - len(lines[start].lstrip())
    assert lines[start].strip() == _docs.PARAMETERS["random_state"].splitlines()[0]
    assert all(len(line) - len(line.lstrip()) == indent + 4 for line in lines[start + 1:] if line.strip())
    assert lines[-2].strip() == "It seeds f."


def test_fill_doc_refuses_unknown_and_inline_placeholders():
    def unknown():
        """%(colour_of_the_sky)s"""

    with pytest.raises(InputError, match=r"received the placeholder %\(colour_of_the_sky\)s"):
        _docs.fill_doc(unknown)

    def inline():
        """Seeds: %(random_state)s."""

    with pytest.raises(InputError, match="on a line of its own"):
        _docs.fill_doc(inline)


def test_the_api_pages_get_the_same_descriptions(tmp_path):
    """The docs site reads docstrings from the source; its griffe extension fills the same entries."""
    griffe = pytest.importorskip("griffe")
    (tmp_path / "seeded.py").write_text('def draw(random_state=0):\n    """Draw.\n\n    Parameters\n    ----------\n'
                                        '    %(random_state)s\n        It seeds the draw.\n    """\n')
    ext = griffe.load_extensions(str(PACKAGE.parent / "docs" / "hooks" / "fill_doc.py") + ":FillDoc")
    module = griffe.load("seeded", extensions=ext, search_paths=[str(tmp_path)])
    doc = module["draw"].docstring.value
    assert "%(" not in doc and _docs.PARAMETERS["random_state"].splitlines()[1].strip() in doc
    parameters = module["draw"].docstring.parse("numpy")[1]
    assert parameters.kind.value == "parameters" and parameters.value[0].name == "random_state"
