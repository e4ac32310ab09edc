"""The demo's deep-readout section: registered after encoding, runs in quick mode, writes its figures."""

import re

import pandas as pd

from neuroperception.demo import DemoContext
from neuroperception.demo import readouts as demo_readouts
from neuroperception.demo.registry import _SECTIONS
from neuroperception.plotting import Report


def _table(html: str) -> pd.DataFrame:
    """The report's HTML table back as a DataFrame indexed by model."""
    header = re.findall(r"<th>(.*?)</th>", html)
    cells = (re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", html, re.S))
    rows = [row for row in cells if row]
    table = pd.DataFrame(rows, columns=header).set_index("model")
    return table.apply(pd.to_numeric, errors="coerce")


def test_readouts_section_is_registered_right_after_encoding():
    names = [name for name, _ in _SECTIONS]
    assert names.index("readouts") == names.index("encoding") + 1


def test_readouts_section_quick_writes_figures_and_a_table_where_readouts_beat_pooled_ridge(tmp_path):
    ctx = DemoContext(tmp_path, quick=True)
    report = Report(tmp_path, "test")
    demo_readouts._readouts(ctx, report)
    section = report.sections[-1]
    assert section.title == "Deep readouts"
    names = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert names == ["readouts_attention.png", "readouts_centres.png", "readouts_receptive_fields.png"]
    assert all((tmp_path / "figures" / n).stat().st_size > 5000 for n in names)
    assert [rel for rel, _ in section.figures] == [f"figures/{n}" for n in
                                                  ("readouts_attention.png", "readouts_receptive_fields.png",
                                                   "readouts_centres.png")]
    table = _table(section.tables[0][1])
    assert list(table.index) == ["ridge pooled", "ridge full maps", "factorised", "attention"]
    # V1's planted signal is local contrast energy: keeping where a voxel looks pays most there
    assert table.loc["factorised", "V1"] > table.loc["ridge pooled", "V1"] + 0.2
    assert table.loc["factorised", "V1 centres within 1 cell"] >= 0.6
    assert re.search(r"\d+ world scenes .* world:cnn conv1 maps", section.text)
    assert "What this shows: " in section.text
    assert ctx.timings["readouts"] > 0
