"""The self-contained HTML page of an exported triplet experiment (inline CSS and JavaScript only)."""

from __future__ import annotations

import html
import json

__all__ = ["render_page"]

_CSS = """
body{margin:0;background:#808080;color:#fff;font-family:sans-serif;text-align:center}
#intro,#done{max-width:760px;margin:8vh auto;text-align:left;background:#6b6b6b;padding:1.5em 2em;border-radius:8px}
#intro p{line-height:1.5}
#trial{display:none;padding-top:4vh}
.row{display:flex;justify-content:center;gap:6vw;margin:2vh 0}
.slot{display:flex;flex-direction:column;align-items:center}
.slot img{width:min(26vw,34vh);height:min(26vw,34vh);object-fit:contain;background:#808080}
.slot .label{font-size:1.2em;margin-top:.4em;color:#eee}
#progress{position:fixed;top:.5em;right:1em;font-size:.9em;color:#ddd}
#hint{color:#eee;margin-top:2vh}
#error{color:#ffd0d0;white-space:pre-wrap}
#results{text-align:left;background:#fff;color:#000;padding:.5em;max-height:40vh;overflow:auto;font-size:.8em}
button{font-size:1.1em;padding:.4em 1.2em}
a{color:#fff}
"""

_JS = r"""
"use strict";
const CONFIG = JSON.parse(document.getElementById("config").textContent);
const TRIALS = CONFIG.trials;
const COLUMNS = ["participant", "task", "trial_index", "triplet", "ref", "option_a", "option_b", "layout",
                 "key", "position", "chosen", "choice", "rt_ms", "timestamp"];
const params = new URLSearchParams(window.location.search);
const autorun = params.has("autorun") ? params.get("autorun").split(",").filter(k => k.length) : null;
const autoDelay = Number(params.get("autorun_delay") || 400);
let state = "loading", current = -1, shownAt = 0;
const rows = [];

function el(id) { return document.getElementById(id); }

function keyPosition(key) {
  const keys = CONFIG.keys;
  for (let p = 0; p < keys.length; p++) { if (keys[p].indexOf(key) >= 0) { return p; } }
  return -1;
}

function preload() {
  const paths = new Set();
  TRIALS.forEach(t => t.layout.forEach(role => paths.add(t.paths[role])));
  let pending = paths.size;
  const failed = [];
  if (pending === 0) { ready(); return; }
  paths.forEach(src => {
    const img = new Image();
    img.onload = () => { if (--pending === 0) { finishPreload(failed); } };
    img.onerror = () => { failed.push(src); if (--pending === 0) { finishPreload(failed); } };
    img.src = src;
  });
}

function finishPreload(failed) {
  if (failed.length) {
    el("error").textContent = "These images could not be loaded (keep index.html next to its images/ folder):\n"
      + failed.join("\n");
    state = "error";
    return;
  }
  ready();
}

function ready() {
  state = "intro";
  el("start").disabled = false;
  el("status").textContent = "Press Enter or click Start to begin.";
  if (autorun) { runScripted(autorun.slice()); }
}

function start() {
  if (state !== "intro") { return; }
  el("participant").blur();
  el("intro").style.display = "none";
  el("trial").style.display = "block";
  current = -1;
  next();
}

function next() {
  current += 1;
  if (current >= TRIALS.length) { finish(); return; }
  const t = TRIALS[current];
  el("progress").textContent = "Trial " + (current + 1) + " of " + TRIALS.length;
  const slots = CONFIG.task === "2afc" ? ["opt0", "opt1"] : ["opt0", "opt1", "opt2"];
  if (CONFIG.task === "2afc") { el("refimg").src = t.paths.ref; }
  slots.forEach((s, p) => { el(s).src = t.paths[t.layout[p]]; });
  el("stage").style.visibility = "visible";
  state = "trial";
  shownAt = performance.now();
}

function respond(key, position) {
  const rt = performance.now() - shownAt;
  const t = TRIALS[current];
  const chosen = t.layout[position];
  let choice = "";
  if (CONFIG.task === "2afc") {
    choice = chosen === "option_a" ? "A" : "B";
  } else if (chosen === "option_b") {
    choice = "A";  // the reference and option A stay together: A judged more similar to the reference
  } else if (chosen === "option_a") {
    choice = "B";
  }
  rows.push({participant: el("participant").value.trim() || "anonymous", task: CONFIG.task,
             trial_index: t.trial_index, triplet: t.triplet, ref: t.ids.ref, option_a: t.ids.option_a,
             option_b: t.ids.option_b, layout: t.layout.join(" "), key: key, position: position + 1,
             chosen: chosen, choice: choice, rt_ms: rt.toFixed(1), timestamp: new Date().toISOString()});
  state = "iti";
  el("stage").style.visibility = "hidden";
  setTimeout(next, CONFIG.iti_ms);
}

function csvField(value) {
  const s = String(value);
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

function finish() {
  state = "done";
  el("trial").style.display = "none";
  el("done").style.display = "block";
  const lines = [COLUMNS.join(",")].concat(rows.map(r => COLUMNS.map(c => csvField(r[c])).join(",")));
  const csv = lines.join("\n") + "\n";
  el("results").textContent = csv;
  const link = el("download");
  const who = (rows.length ? rows[0].participant : "anonymous").replace(/[^A-Za-z0-9_.-]/g, "_");
  link.download = "responses_" + who + ".csv";
  link.href = "data:text/csv;charset=utf-8," + encodeURIComponent(csv);
  const download = params.get("download");
  if (download === "1" || (!autorun && download !== "0")) { link.click(); }
}

function onKey(event) {
  const key = event.key;
  if (state === "intro" && key === "Enter") { start(); return; }
  if (state !== "trial") { return; }
  const position = keyPosition(key);
  if (position < 0) { return; }
  if (event.preventDefault) { event.preventDefault(); }
  respond(key, position);
}

function runScripted(keys) {
  if (!keys.length) { return; }
  setTimeout(() => {
    const name = keys.shift();
    const key = name === "Space" ? " " : name;
    document.dispatchEvent(new KeyboardEvent("keydown", {key: key, bubbles: true}));
    runScripted(keys);
  }, autoDelay);
}

document.addEventListener("keydown", onKey);
el("start").addEventListener("click", start);
if (params.has("participant")) { el("participant").value = params.get("participant"); }
preload();
"""


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n\n") if p.strip())


def render_page(config: dict, title: str, instructions: str) -> str:
    """The experiment page: ``config`` (task, keys, key labels, trials, ITI) is embedded as JSON."""
    data = json.dumps(config, ensure_ascii=True).replace("</", "<\\/")
    labels = config["key_labels"]
    if config["task"] == "2afc":
        stage = ("<div class='row'><div class='slot'><img id='refimg' alt='reference'></div></div>"
                 "<div class='row'>" + "".join(
                     f"<div class='slot'><img id='opt{p}' alt='option {p + 1}'>"
                     f"<div class='label'>{html.escape(labels[p])}</div></div>" for p in range(2)) + "</div>")
    else:
        stage = "<div class='row'>" + "".join(
            f"<div class='slot'><img id='opt{p}' alt='image {p + 1}'>"
            f"<div class='label'>{html.escape(labels[p])}</div></div>" for p in range(3)) + "</div>"
    return "\n".join([
        "<!doctype html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<div id='intro'><h1>{html.escape(title)}</h1>{_paragraphs(instructions)}",
        "<p><label>Participant id: <input id='participant' value='' autocomplete='off'></label></p>",
        "<p><button id='start' disabled>Start</button> <span id='status'>Loading images...</span></p>",
        "<p id='error'></p></div>",
        f"<div id='trial'><div id='progress'></div><div id='stage'>{stage}</div>",
        f"<p id='hint'>{html.escape(config['hint'])}</p></div>",
        "<div id='done' style='display:none'><h1>Thank you!</h1>",
        "<p>Your responses were saved as a CSV file. If no download started, use this link: "
        "<a id='download' href='#'>download responses</a>. They are also shown below.</p>",
        "<pre id='results'></pre></div>",
        f"<script type='application/json' id='config'>{data}</script>",
        f"<script>{_JS}</script>",
        "</body></html>",
    ])
