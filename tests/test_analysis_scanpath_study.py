"""The scanpath and search-asymmetry study: simulated COCO-Search18 observers, model scores, asymmetry table."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from neuroperception.scanpaths import load_coco_search18

PATH = Path(__file__).resolve().parent.parent / "analyses" / "scanpath_study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("scanpath_study", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def observers(study, tmp_path_factory):
    photos = study.photographs(3)
    priority = study.priority_maps(photos.images.numpy().astype(float))
    file = study.write_observers(tmp_path_factory.mktemp("human"), photos, priority, n_subjects=5, random_state=3)
    return photos, priority, file


def test_simulated_observers_are_read_back_in_the_coco_search18_layout(study, observers):
    photos, priority, file = observers
    assert file.name == "coco_search18_fixations_TP_validation_split1.json"
    records = json.loads(file.read_text())
    human = load_coco_search18(file, split="valid")  # the study writes its file inside the 1680 x 1050 display
    assert len(human) == len(records) == 15
    assert set(human.meta["stimulus_id"]) == set(photos.ids) == {"astronaut.jpg", "camera.jpg", "cat.jpg"}
    for rec, xyt in zip(records, human.arrays(with_duration=True)):
        np.testing.assert_allclose(xyt, np.c_[rec["X"], rec["Y"], rec["T"]])
        np.testing.assert_allclose(xyt[0, :2], [835.0, 520.0])  # the initial centre fixation: (83.5, 52) x 10
    assert dict(zip(human.meta["stimulus_id"], human.meta["task"]))["camera.jpg"] == "camera"
    frame = study._in_frame(human)
    assert frame.n_fixations == human.n_fixations - len(human)
    np.testing.assert_allclose(frame.arrays()[0], human.arrays()[0][1:] / 10)
    again = study.write_observers(file.parent / "again", photos, priority, n_subjects=5, random_state=3)
    assert again.read_text() == file.read_text()


def test_observers_follow_the_planted_priority_and_the_ceiling_wins(study, observers):
    photos, priority, file = observers
    np.testing.assert_allclose(priority.sum(axis=(1, 2)), 1.0)
    fixations = study._in_frame(load_coco_search18(file))
    scores = study.score_saliency(photos, fixations, priority)[0].set_index("model")
    ceiling = scores.loc["planted priority (ceiling)"]
    assert ceiling["NSS"] > 1.0 and ceiling["AUC-Judd"] > 0.8
    for metric in ("NSS", "AUC-Judd", "sAUC", "IG over centre (bits)", "CC"):
        assert ceiling[metric] == scores[metric].max(), metric
    assert scores.loc["uniform", "NSS"] == pytest.approx(0.0, abs=1e-9)
    assert scores.loc["centre bias", "IG over centre (bits)"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.slow
def test_quick_run_scores_models_above_chance_and_reports_the_asymmetry(study, tmp_path):
    tables = study.run(tmp_path, quick=True)
    for name in ("scanpath_scores.csv", "saliency_scores.csv", "asymmetry.csv", "search_fixations.csv",
                 "scanpaths.png", "saliency.png", "search_scanpaths.png", "search_slopes.png",
                 "asymmetry_index.png", "human/coco_search18_fixations_TP_validation_split1.json"):
        assert (tmp_path / name).stat().st_size > 100, name
    sp = tables["scanpath_scores"].set_index("model")
    assert list(sp.index) == ["human", "NeVA", "NevaClip", "center", "random"]
    for metric in ("scanmatch", "sequence_score", "multimatch_position"):  # similarities: higher is better
        assert sp.loc["NeVA", metric] > sp.loc["random", metric], metric
        assert sp.loc["human", metric] > sp.loc["random", metric], metric
    assert sp.loc["NeVA", "dtw"] < sp.loc["random", "dtw"]  # a distance
    assert sp.loc["human", "sequence_score"] == sp["sequence_score"].max()
    sal = tables["saliency_scores"].set_index("model")
    assert sal["NSS"].idxmax() == "planted priority (ceiling)"
    asym = tables["asymmetry"].set_index("model")
    assert asym.loc["humans (Gupta et al. 2021)", "asymmetry_index"] == 0.564
    assert asym.loc["eccNET (Gupta et al. 2021)", "asymmetry_index"] == 0.513
    assert asym["asymmetry_index"].between(-1, 1).all()
    fix = tables["search_fixations"]
    assert set(fix["model"]) == {"VisualSearch", "RandomSearch"} and set(fix["set_size"]) == {4, 8, 12}
    assert (fix["n_fixations"] <= fix["set_size"]).all()  # never more than the items (IOR over whole items)
