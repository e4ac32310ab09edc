"""One name per idea across the public API: the "Names" table of ``docs/conventions.md``, enforced.

The parameter checks walk every public callable (each subpackage's ``__all__``: functions,
classes' ``__init__`` and public methods) and compare parameter names with the table: retired
synonyms are gone, ``weights`` is always a network's weights and ``size`` always an image size in
pixels. The id checks build unlabelled inputs through every entry point that labels them and
expect the ids of one helper. The label checks read the package's source for non-ASCII keys and
labels of returned tables, and call the table-returning functions that once had them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import neuroperception
from neuroperception._validation import default_stimulus_ids

PACKAGE = Path(neuroperception.__file__).parent

#: Retired parameter names and the name that replaced them.
RETIRED = {
    "spec": "model", "backbone": "model", "net": "model", "clip_model": "model", "task_model": "model",
    "encoding_model": "model", "backbone_weights": "weights",
    "ids": "stimulus_id", "stimulus_ids": "stimulus_id", "image_ids": "stimulus_id", "image_id": "stimulus_id",
    "trial_ids": "stimulus_id", "image_size": "size", "screen_size": "size", "image_sizes": "sizes",
    "fixations_xy": "fixations", "other_fixations_xy": "other_fixations", "true": "target", "decoded": "pred",
}

#: (callable, parameter) pairs that keep a retired name, each with its reason.
ALLOWED = {
    ("features.FeatureModel.__init__", "spec"):
        "a record's field: the registry spec string the model was loaded from (FeatureModel.spec)",
    ("similarity.TwoAFCDataset.__init__", "ids"):
        "a record's field: the items' ids, listed in .ids like ImageSet.ids (built by the readers and from_arrays)",
    ("similarity.JNDDataset.__init__", "ids"):
        "a record's field: the items' ids, listed in .ids like ImageSet.ids (built by the readers and from_arrays)",
}

#: Callables whose ``stimuli`` parameter is a dataset's own description of its stimuli, named as
#: the dataset's software names it (anywhere else, ids of stimuli are ``stimulus_id``).
STIMULI_PARAMETER = {
    "scanpaths.load_mit1003_fixations": "pysaliency's Stimuli object or stimuli.hdf5",
}


def _public_callables():
    """``(qualified name, callable)`` for every public function, constructor and public method."""
    for info in pkgutil.iter_modules(neuroperception.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"neuroperception.{info.name}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj):
                if issubclass(obj, BaseException):
                    continue
                yield f"{info.name}.{name}.__init__", obj.__init__
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(member, (classmethod, staticmethod)):
                        member = member.__func__
                    if inspect.isfunction(member):
                        yield f"{info.name}.{name}.{attr}", member
            elif callable(obj):
                yield f"{info.name}.{name}", obj


def _parameters():
    for qualname, fn in _public_callables():
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            continue
        for p in params.values():
            if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                yield qualname, fn, p


def _owner_doc(qualname: str, fn) -> str:
    """The docstring that documents ``fn``'s parameters (the class docstring for ``__init__``)."""
    if qualname.endswith(".__init__"):
        sub, cls = qualname.split(".")[:2]
        owner = getattr(importlib.import_module(f"neuroperception.{sub}"), cls)
        return (owner.__doc__ or "") + "\n" + (fn.__doc__ or "")
    return fn.__doc__ or ""


def _documented_type(doc: str, name: str, parameter: inspect.Parameter) -> str | None:
    """The type of a parameter: its numpy-style ``name : type`` entry (also in ``a, name, b : type``
    groups), else its annotation; ``""`` for a group entry without a type (``a, name, b``: as
    documented elsewhere); None when neither documents it."""
    grouped = False
    for line in doc.splitlines():
        head, sep, kind = line.strip().partition(" : ")
        names = [h.strip() for h in head.split(",")]
        if sep and name in names:
            return kind
        grouped |= not sep and len(names) > 1 and name in names
    if parameter.annotation is not inspect.Parameter.empty:
        return str(parameter.annotation)
    return "" if grouped else None


def test_the_walk_sees_the_public_api():
    names = {q for q, _ in _public_callables()}
    assert {"features.load_model", "similarity.LPIPS.__init__", "scanpaths.Scanpaths.from_arrays",
            "stimuli.ImageSet.from_array", "data.make_responses"} <= names
    assert len(names) > 300


def test_no_retired_parameter_names():
    found = sorted(f"{q}({p.name}=): use {RETIRED[p.name]}=" for q, _, p in _parameters()
                   if p.name in RETIRED and (q, p.name) not in ALLOWED)
    assert not found, "retired parameter names (docs/conventions.md, Names):\n" + "\n".join(found)


def test_allow_list_entries_still_exist():
    present = {(q, p.name) for q, _, p in _parameters()}
    assert set(ALLOWED) <= present, f"stale allow-list entries: {sorted(set(ALLOWED) - present)}"


def test_stimuli_is_only_a_dataset_description():
    found = sorted(q for q, _, p in _parameters() if p.name == "stimuli" and q not in STIMULI_PARAMETER)
    assert not found, f"stimuli= where stimulus ids are meant (use stimulus_id=): {found}"


def test_weights_is_always_a_networks_weights():
    """Exponents, channel or attribute weights have qualified names (scale_weights, channel_weights...)."""
    bad = []
    for q, fn, p in _parameters():
        if p.name != "weights":
            continue
        kind = _documented_type(_owner_doc(q, fn), "weights", p)
        if kind is None or re.search(r"float|mapping|Mapping|sequence|Sequence|array|tuple", kind):
            bad.append(f"{q}: weights : {kind}")
    assert not bad, "weights= that is not a network's weights:\n" + "\n".join(bad)


def test_size_is_an_image_size_in_pixels():
    """``size`` is ``(height, width)`` or an int; panel sizes, model variants and the like are named apart."""
    bad = []
    for q, fn, p in _parameters():
        if p.name not in ("size", "sizes"):
            continue
        kind = _documented_type(_owner_doc(q, fn), p.name, p)
        if kind is None or re.match(r"(float|bool|str)\b", kind) or "{" in kind:
            bad.append(f"{q}: {p.name} : {kind}")
    assert not bad, "size=/sizes= that is not an image size in pixels:\n" + "\n".join(bad)


# -- default ids ---------------------------------------------------------------------------------
def test_default_ids_helper():
    assert default_stimulus_ids(3) == ["stim0000", "stim0001", "stim0002"]
    assert default_stimulus_ids(10001)[-1] == "stim10000"  # widened, still unique and sorted
    assert default_stimulus_ids(0) == []


def _unlabelled_ids():
    """The ids each entry point gives to unlabelled input of 3 stimuli."""
    from neuroperception.data import contrast_energy, make_responses
    from neuroperception.features import extract
    from neuroperception.scanpaths import RandomSearch, UniformSaliency
    from neuroperception.similarity import TwoAFCDataset, compute_rdm
    from neuroperception.stimuli import ImageSet, VideoSet
    from neuroperception.stimuli.search_arrays import search_array

    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, 16, 16, generator=g)
    features = np.random.default_rng(0).normal(size=(3, 5))
    arrays = search_array("red", "green", set_size=4, size=48, n=3)
    searched, _ = RandomSearch(max_fixations=2).search(arrays.images.images, arrays.targets.images,
                                                       arrays.target_boxes)
    return {
        "ImageSet.from_array": ImageSet.from_array(images).ids,
        "VideoSet.from_array": VideoSet.from_array(torch.rand(3, 2, 3, 8, 8, generator=g)).ids,
        "make_responses": make_responses(features).stimulus_id.values.tolist(),
        "compute_rdm": compute_rdm(features).stimulus_id.values.tolist(),
        "contrast_energy": contrast_energy(images, grid=4).stimulus_id.values.tolist(),
        "extract": extract("gabor", images, ["scale1"])["scale1"].stimulus_id.values.tolist(),
        "UniformSaliency.predict": UniformSaliency().predict(images).stimulus_id.values.tolist(),
        "RandomSearch.search": list(dict.fromkeys(searched.table["stimulus_id"])),
        "TwoAFCDataset.from_arrays": TwoAFCDataset.from_arrays(images, images, images, [0.5] * 3).ids,
    }


@pytest.mark.filterwarnings("ignore:preprocessing")  # 16-pixel images upsampled to the Gabor pyramid's input
def test_unlabelled_inputs_get_the_same_ids_everywhere():
    got = _unlabelled_ids()
    other = {k: v for k, v in got.items() if v != default_stimulus_ids(3)}
    assert not other, f"expected {default_stimulus_ids(3)} from every entry point; got {other}"


# -- ASCII labels --------------------------------------------------------------------------------
def _non_ascii_labels(tree: ast.AST) -> list[tuple[int, str]]:
    """Non-ASCII strings used as keys or labels: dict keys, subscripts, comparisons, module constants."""
    found = []

    def add(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and not node.value.isascii():
            found.append((node.lineno, node.value))

    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key in node.keys:
                add(key)
        elif isinstance(node, ast.Subscript):
            for sub in ast.walk(node.slice):
                add(sub)
        elif isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                for sub in ast.walk(side):
                    add(sub)
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in ("index", "columns", "name", "names", "direction", "label"):
                    for sub in ast.walk(kw.value):
                        add(sub)
    for stmt in getattr(tree, "body", []):       # module-level constants: label vocabularies
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, (ast.Tuple, ast.List, ast.Set)):
            for sub in stmt.value.elts:
                add(sub)
    return found


def test_table_keys_and_labels_are_ascii_in_the_source():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, value in _non_ascii_labels(ast.parse(path.read_text(encoding="utf-8"))):
            bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {value!r}")
    assert not bad, "non-ASCII keys or labels (use ASCII snake_case):\n" + "\n".join(bad)


def test_the_label_check_finds_what_it_should():
    planted = ('DIRECTIONS = ("brain→image", "ok")\n'
               'def f(t, d):\n'
               '    rows = {"mean σ": 1}\n'
               '    return t.loc["image→brain"], d == "a→b", pd.Index([1], name="β")\n'
               'HINT = {"2afc": ["← left"]}\n')
    assert sorted(v for _, v in _non_ascii_labels(ast.parse(planted))) == \
        sorted(["mean σ", "image→brain", "a→b", "β", "brain→image"])


def test_returned_tables_have_ascii_labels():
    from neuroperception.data import simulate_brain
    from neuroperception.decoding import retrieval_accuracy
    from neuroperception.scanpaths import Scanpaths

    x = np.random.default_rng(0).normal(size=(6, 4))
    tables = {
        "retrieval_accuracy": retrieval_accuracy(x + 0.1, x, k=(1, 2)),
        "SimulatedBrain.roi_table": simulate_brain(x, n_voxels=9, random_state=0).roi_table(),
        "Scanpaths.table": Scanpaths.from_arrays([np.array([[1.0, 2.0]])], ["a"]).table,
    }
    for name, table in tables.items():
        labels = [str(v) for v in [*table.columns, *table.index, table.index.name, table.columns.name]]
        assert all(v.isascii() for v in labels), f"{name}: {labels}"
    assert list(tables["retrieval_accuracy"].index) == ["brain_to_image", "image_to_brain"]
    assert "stimulus_id" in tables["Scanpaths.table"].columns  # the join key of every labelled array


@pytest.mark.parametrize("retired", sorted(RETIRED))
def test_retired_names_are_documented(retired):
    text = (PACKAGE.parent / "docs" / "conventions.md").read_text(encoding="utf-8")
    assert f"`{retired}`" in text, f"docs/conventions.md: the Names table does not list `{retired}`"
