"""Experiment export (files, manifest, self-contained page), responses CSV reading, a headless-browser
run of the page, and a quick run of the triplet-study analysis."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from neuroperception.behaviour.choice import fit_choice_model
from neuroperception.behaviour.experiment import RESPONSE_CSV_COLUMNS, export_experiment, load_experiment_responses
from neuroperception.errors import AlignmentError, InputError
from neuroperception.stimuli import ImageSet

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def setup():
    """Twelve random images (ids with slashes) and a hand-made triplet table of four triplets."""
    g = torch.Generator().manual_seed(0)
    images = ImageSet.from_array(torch.rand(12, 3, 20, 24, generator=g),
                                 stimulus_id=[f"set/img {i}" for i in range(12)])
    ids = images.ids
    rng = np.random.default_rng(0)
    d = rng.uniform(0.1, 1.0, (4, 4))
    t = pd.DataFrame({"triplet": [10, 11, 12, 13], "ref": ids[0:12:3], "option_a": ids[1:12:3],
                      "option_b": ids[2:12:3], "d_low_a": d[:, 0], "d_low_b": d[:, 1], "d_high_a": d[:, 2],
                      "d_high_b": d[:, 3]})
    t["delta_low"] = t["d_low_a"] - t["d_low_b"]
    t["delta_high"] = t["d_high_a"] - t["d_high_b"]
    t["condition"] = np.where(np.sign(t["delta_low"]) == np.sign(t["delta_high"]), "congruent", "incongruent")
    t.attrs = {"low": ("gabor", "scale1"), "high": ("gabor", "scale3"), "random_state": 0, "r_low_high": np.nan}
    return images, t


def test_export_writes_images_manifest_and_page(tmp_path, setup):
    images, t = setup
    page = export_experiment(t, images, tmp_path / "exp", random_state=3)
    out = page.parent
    manifest = pd.read_csv(out / "manifest.csv", dtype={"ref": str, "option_a": str, "option_b": str})
    assert len(manifest) == 4 and sorted(manifest["triplet"]) == [10, 11, 12, 13]
    assert list(manifest["trial_index"]) == [0, 1, 2, 3]
    merged = manifest.merge(t, on="triplet", suffixes=("", "_table"))
    for col in ("ref", "option_a", "option_b", "delta_low", "condition"):
        assert (merged[col] == merged[f"{col}_table"]).all()
    for role in ("ref", "option_a", "option_b"):
        for image_id, rel in zip(manifest[role], manifest[f"{role}_path"]):
            stored = np.asarray(Image.open(out / rel))
            expected = (images[image_id].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            np.testing.assert_array_equal(stored, expected)  # the PNG holds exactly the image
    assert len(list((out / "images").glob("*.png"))) == 12
    assert {lay for lay in manifest["layout"]} <= {"option_a option_b", "option_b option_a"}
    meta = json.loads((out / "manifest.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert meta["task"] == "2afc" and meta["triplet_attrs"]["low"] == ["gabor", "scale1"]
    assert meta["triplet_attrs"]["r_low_high"] is None  # NaN is written as null: the file stays valid JSON
    assert [r["triplet"] for r in meta["trials"]] == manifest["triplet"].tolist()
    html = page.read_text()
    assert "http" not in html.lower()  # no external URL: everything is inline or in the folder
    assert not re.search(r"(src|href)\s*=\s*['\"](//|[a-z]+:)(?!#)", html.replace("data:text/csv", ""))
    assert "<pre id='results'>" in html and "Image similarity" in html
    for rel in manifest["ref_path"]:
        assert rel in html  # the trials are embedded (file:// pages cannot fetch JSON)


def test_randomisation_is_seeded_and_optional(tmp_path, setup):
    images, t = setup
    read = lambda p: pd.read_csv(p.parent / "manifest.csv")  # noqa: E731
    a = read(export_experiment(t, images, tmp_path / "a", random_state=1))
    b = read(export_experiment(t, images, tmp_path / "b", random_state=1))
    pd.testing.assert_frame_equal(a, b)
    orders = {tuple(read(export_experiment(t, images, tmp_path / f"s{s}", random_state=s))["triplet"])
              for s in range(6)}
    assert len(orders) > 1
    fixed = read(export_experiment(t, images, tmp_path / "fixed", randomize=False))
    assert list(fixed["triplet"]) == [10, 11, 12, 13] and set(fixed["layout"]) == {"option_a option_b"}
    odd = read(export_experiment(t, images, tmp_path / "odd", task="odd_one_out", random_state=0))
    assert all(sorted(lay.split()) == ["option_a", "option_b", "ref"] for lay in odd["layout"])
    html = (tmp_path / "odd" / "index.html").read_text()
    assert "odd one out" in html and "opt2" in html


def test_export_refuses_to_overwrite(tmp_path, setup):
    images, t = setup
    out = tmp_path / "exp"
    export_experiment(t, images, out)
    with pytest.raises(InputError, match="already exists and is not empty.*overwrite=True"):
        export_experiment(t, images, out)
    (out / "notes.txt").write_text("keep me")
    export_experiment(t.iloc[:1], images, out, overwrite=True, instructions="Look carefully.\n\nThen answer.")
    assert len(list((out / "images").glob("*.png"))) == 3  # the previous export's images are gone
    assert (out / "notes.txt").read_text() == "keep me"
    assert "<p>Look carefully.</p><p>Then answer.</p>" in (out / "index.html").read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    export_experiment(t, images, empty)  # an empty folder is fine


def test_export_accepts_a_mapping_of_images(tmp_path, setup):
    images, t = setup
    mapping = {i: (images[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for i in images.ids}
    page = export_experiment(t, mapping, tmp_path / "m", randomize=False)
    first = pd.read_csv(page.parent / "manifest.csv")["ref_path"][0]
    np.testing.assert_array_equal(np.asarray(Image.open(page.parent / first)), mapping[t["ref"][0]])


def test_export_errors(tmp_path, setup):
    images, t = setup
    with pytest.raises(InputError, match="task: received 'triad'"):
        export_experiment(t, images, tmp_path / "x", task="triad")
    with pytest.raises(InputError, match=r"missing \['option_b'\]"):
        export_experiment(t.drop(columns="option_b"), images, tmp_path / "x")
    with pytest.raises(AlignmentError, match="not in the ImageSet"):
        export_experiment(t, images[:6], tmp_path / "x")
    with pytest.raises(AlignmentError, match="duplicated triplet numbers"):
        export_experiment(t.assign(triplet=1), images, tmp_path / "x")
    with pytest.raises(InputError, match="same image twice"):
        export_experiment(t.assign(option_b=t["ref"]), images, tmp_path / "x")
    with pytest.raises(InputError, match="expected an ImageSet or a mapping"):
        export_experiment(t, images.images, tmp_path / "x")
    assert not (tmp_path / "x").exists()  # nothing written on error


def _write_csv(path, rows):
    df = pd.DataFrame(rows, columns=RESPONSE_CSV_COLUMNS)
    df.to_csv(path, index=False)
    return path


def _rows(t, participant, choices):
    return [[participant, "2afc", k, r.triplet, r.ref, r.option_a, r.option_b, "option_a option_b",
             "ArrowLeft" if c == "A" else "ArrowRight", 1 if c == "A" else 2,
             "option_a" if c == "A" else "option_b", c, 500.0 + k, "2024-01-01T00:00:00Z"]
            for k, (r, c) in enumerate(zip(t.itertuples(), choices))]


def test_load_responses_joins_and_validates(tmp_path, setup):
    _, t = setup
    a = _write_csv(tmp_path / "a.csv", _rows(t, "p1", "ABAB"))
    b = _write_csv(tmp_path / "b.csv", _rows(t, "NA", "BB"))  # "NA" stays a participant id, not missing
    r = load_experiment_responses([a, b], t)
    assert len(r) == 6 and list(r["participant"]) == ["p1"] * 4 + ["NA"] * 2
    assert list(r["chose_a"]) == [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert r["triplet"].dtype == np.int64 and r["rt_ms"].tolist()[:2] == [500.0, 501.0]
    np.testing.assert_allclose(r["delta_high"], t.set_index("triplet").loc[r["triplet"], "delta_high"])
    assert list(r["source"]) == ["a.csv"] * 4 + ["b.csv"] * 2
    alone = load_experiment_responses(a)
    assert "delta_low" not in alone.columns and len(alone) == 4
    fit = fit_choice_model(t, r, n_bootstrap=0, l2=1.0)
    assert fit.attrs["n_responses"] == 6
    odd = _rows(t, "p2", "AB")
    # an odd-one-out trial where the reference was picked as the odd one out: no A/B choice
    odd[0][1], odd[0][7], odd[0][9], odd[0][10], odd[0][11] = "odd_one_out", "ref option_a option_b", 1, "ref", ""
    assert np.isnan(load_experiment_responses(_write_csv(tmp_path / "odd.csv", odd))["chose_a"][0])


def test_load_responses_errors(tmp_path, setup):
    _, t = setup
    good = _rows(t, "p1", "ABAB")
    with pytest.raises(InputError, match="does not exist"):
        load_experiment_responses(tmp_path / "missing.csv")
    with pytest.raises(InputError, match=r"missing \['rt_ms'\]"):
        pd.DataFrame(good, columns=RESPONSE_CSV_COLUMNS).drop(columns="rt_ms").to_csv(tmp_path / "c.csv", index=False)
        load_experiment_responses(tmp_path / "c.csv")
    with pytest.raises(InputError, match="hold no responses"):
        load_experiment_responses(_write_csv(tmp_path / "h.csv", []))
    bad = [row[:] for row in good]
    bad[0][11] = "left"
    with pytest.raises(InputError, match="expected 'A', 'B' or empty"):
        load_experiment_responses(_write_csv(tmp_path / "b.csv", bad))
    bad = [row[:] for row in good]
    bad[1][12] = "slow"
    with pytest.raises(InputError, match="rt_ms"):
        load_experiment_responses(_write_csv(tmp_path / "rt.csv", bad))
    with pytest.raises(AlignmentError, match="not in triplets"):
        load_experiment_responses(_write_csv(tmp_path / "u.csv", good), t.iloc[:2])
    swapped = [row[:] for row in good]
    swapped[2][5], swapped[2][6] = swapped[2][6], swapped[2][5]
    with pytest.raises(AlignmentError, match=r"images of triplet\(s\) \[12\] differ"):
        load_experiment_responses(_write_csv(tmp_path / "s.csv", swapped), t)
    with pytest.raises(InputError, match="expected a path or a non-empty list"):
        load_experiment_responses([])


def test_load_responses_checks_rows_against_the_page_rules(tmp_path, setup):
    """The page writes ``chosen = layout[position - 1]`` and derives ``choice`` from task and chosen
    (``respond()`` in the page script); rows that break either rule, an unknown task or a response
    read twice are errors, and a byte-order mark (a spreadsheet's re-save) is read."""
    _, t = setup
    good = _rows(t, "p1", "ABAB")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + pd.DataFrame(good, columns=RESPONSE_CSV_COLUMNS).to_csv(index=False).encode())
    assert list(load_experiment_responses(bom)["chose_a"]) == [1.0, 0.0, 1.0, 0.0]
    quoted = [row[:] for row in good]
    quoted[0][0] = 'p "one", 2'  # the page quotes ids with commas and quotes
    assert load_experiment_responses(_write_csv(tmp_path / "q.csv", quoted))["participant"][0] == 'p "one", 2'
    odd = [row[:] for row in good]
    odd[2][1], odd[2][7], odd[2][9], odd[2][10], odd[2][11] = "odd_one_out", "option_b ref option_a", 1, "option_b", "A"
    # B is odd: A stays with ref
    assert load_experiment_responses(_write_csv(tmp_path / "o.csv", odd))["chose_a"][2] == 1.0
    wrong = [row[:] for row in good]
    wrong[1][9] = 1  # position 1 of "option_a option_b" is option_a, but the row says option_b
    with pytest.raises(InputError, match=r"1 rows whose 'chosen' is not the image at 'position'.*line 3 of w\.csv"):
        load_experiment_responses(_write_csv(tmp_path / "w.csv", wrong))
    flipped = [row[:] for row in good]
    flipped[3][11] = "A"  # chose option_b in a 2AFC trial, recorded as A
    with pytest.raises(InputError, match=r"'choice' does not follow.*line 5 of f\.csv.*expected 'B'"):
        load_experiment_responses(_write_csv(tmp_path / "f.csv", flipped))
    other = [row[:] for row in good]
    other[0][1] = "triad"
    with pytest.raises(InputError, match=r"'task' has values \['triad'\]"):
        load_experiment_responses(_write_csv(tmp_path / "t.csv", other))
    once = _write_csv(tmp_path / "once.csv", good)
    with pytest.raises(AlignmentError, match="4 responses appear twice.*was a file passed twice"):
        load_experiment_responses([once, once])


def _chromium(page: Path, query: str, home: Path, dump: bool = True) -> list[str]:
    home.mkdir(parents=True, exist_ok=True)
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={home / 'profile'}", "--virtual-time-budget=30000"] + (["--dump-dom"] if dump else []) \
        + [page.as_uri() + "?" + query]


def _env(home: Path) -> dict:
    return {**os.environ, "HOME": str(home), "XDG_DOWNLOAD_DIR": str(home / "Downloads")}


def _run_page(page: Path, query: str, home: Path) -> str:
    """Open the page in headless chromium with a scripted run; return the DOM after it settles."""
    proc = subprocess.run(_chromium(page, query + "&download=0", home), capture_output=True, text=True,
                          timeout=120, env=_env(home), cwd=home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _download(page: Path, query: str, home: Path, name: str) -> Path:
    """Run the page with its automatic download on; return the file the browser saved.

    Headless chromium saves the file but sometimes does not exit after a download, so the
    process is ended once the file is complete.
    """
    saved = home / "Downloads" / name
    proc = subprocess.Popen(_chromium(page, query + "&download=1", home), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_env(home), cwd=home)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (saved.is_file() and saved.stat().st_size
                                                   and saved.read_text().count("\n") >= 5):
            time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert saved.is_file(), f"the browser saved no {name} in {saved.parent}"
    return saved


def _results(dom: str) -> str:
    match = re.search(r'<pre id="results">(.*?)</pre>', dom, re.S)
    assert match, dom[-3000:]
    return match.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("task", ["2afc", "odd_one_out"])
def test_page_runs_in_headless_chromium(tmp_path, setup, task):
    images, t = setup
    page = export_experiment(t, images, tmp_path / "exp", task=task, random_state=5, iti_ms=200)
    manifest = pd.read_csv(page.parent / "manifest.csv")
    keys = ["ArrowLeft", "2", "ArrowRight", "1"] if task == "2afc" else ["1", "3", "2", "ArrowRight"]
    query = f"autorun=Enter,{','.join(keys)}&autorun_delay=500&participant=p%2007"
    dom = _run_page(page, query, tmp_path / "home")
    csv_text = _results(dom)
    # the download link (a data URL) holds the same CSV as the page shows
    link = re.search(r'id="download" href="data:text/csv;charset=utf-8,([^"]*)" download="([^"]*)"', dom)
    assert link and unquote(link.group(1)) == csv_text and link.group(2) == "responses_p_07.csv"
    csv_path = tmp_path / "responses.csv"
    csv_path.write_text(csv_text)
    r = load_experiment_responses(csv_path, t)
    # a second run with the automatic download: the browser saves the same responses (new timestamps)
    saved = _download(page, query, tmp_path / "home2", "responses_p_07.csv")
    again = load_experiment_responses(saved, t)
    pd.testing.assert_frame_equal(again.drop(columns=["timestamp", "source", "rt_ms"]),
                                  r.drop(columns=["timestamp", "source", "rt_ms"]))
    np.testing.assert_allclose(again["rt_ms"], r["rt_ms"], atol=1)  # timer resolution is coarsened
    assert list(r.columns[:len(RESPONSE_CSV_COLUMNS)]) == list(RESPONSE_CSV_COLUMNS)
    assert list(r["participant"]) == ["p 07"] * 4 and (r["task"] == task).all()
    assert list(r["triplet"]) == list(manifest["triplet"]) and list(r["layout"]) == list(manifest["layout"])
    assert list(r["key"]) == keys
    positions = [{"ArrowLeft": 1, "1": 1, "2": 2, "ArrowDown": 2, "ArrowRight": 2 if task == "2afc" else 3,
                  "3": 3}[k] for k in keys]
    assert list(r["position"]) == positions
    chosen = [lay.split()[p - 1] for lay, p in zip(manifest["layout"], positions)]
    assert list(r["chosen"]) == chosen
    if task == "2afc":
        expected = ["A" if c == "option_a" else "B" for c in chosen]
    else:  # the odd one out leaves the other two together
        expected = ["A" if c == "option_b" else "B" if c == "option_a" else "" for c in chosen]
    assert list(r["choice"].fillna("")) == expected
    # response times are measured from trial onset: the scripted delay, minus the blank interval after trial 1
    np.testing.assert_allclose(r["rt_ms"], [500, 300, 300, 300], atol=25)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_page_reports_missing_images(tmp_path, setup):
    images, t = setup
    page = export_experiment(t, images, tmp_path / "exp")
    next((page.parent / "images").glob("*.png")).unlink()
    dom = _run_page(page, "autorun=Enter,1", tmp_path / "home")
    assert "could not be loaded" in dom and '<pre id="results"></pre>' in dom
