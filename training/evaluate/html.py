"""``report.html``: one self-contained page (PNGs embedded as ``data:`` URIs) of ``report.json``."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from training.metrics import METRIC_KEYS

FIGURE_TITLES = {
    "by_past_visits": "Jaccard by number of past visits",
    "ddi_vs_jaccard": "DDI rate vs Jaccard",
    "pr_curves": "Precision-recall curves",
    "ddi_curve": "Jaccard vs DDI rate under max_ddi_rate",
}
_STYLE = """body{font-family:sans-serif;margin:2em;max-width:75em}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:.3em .6em}
td{text-align:right}td:first-child,td:nth-child(2){text-align:left}th{background:#eee}
.warn{color:#a40000}img{max-width:100%}"""


def _cell(m: Mapping[str, float]) -> str:
    return f"{m['mean']:.4f} ± {m['std']:.4f}"


def _table(rows: list[Mapping[str, Any]], key: str) -> str:
    head = "".join(f"<th>{k}</th>" for k in METRIC_KEYS)
    body = []
    for row in rows:
        cells = "".join(f"<td>{_cell(row[key][k])}</td>" for k in METRIC_KEYS)
        threshold = row["thresholds"][key]
        body.append(
            f"<tr><td>{html.escape(row['name'])}</td><td>{html.escape(row['kind'])}</td>"
            f"<td>{threshold:.2f}</td>{cells}<td>{row['test_patients']}</td>"
            f"<td>{row['test_visits']}</td></tr>"
        )
    return (
        f"<table><tr><th>row</th><th>kind</th><th>threshold</th>{head}<th>test patients</th>"
        f"<th>test visits</th></tr>{''.join(body)}</table>"
    )


def _buckets(rows: list[Mapping[str, Any]]) -> str:
    buckets = list(rows[0]["by_past_visits"]["tuned"])
    head = "".join(f"<th>{b} past</th>" for b in buckets)
    body = "".join(
        f"<tr><td>{html.escape(r['name'])}</td>"
        + "".join(f"<td>{r['by_past_visits']['tuned'][b]['jaccard']:.4f}</td>" for b in buckets)
        + "</tr>"
        for r in rows
    )
    counts = rows[0]["by_past_visits"]["tuned"]
    visits = "".join(f"<td>{counts[b]['visits']}</td>" for b in buckets)
    return f"<table><tr><th>row</th>{head}</tr>{body}<tr><td>visits</td>{visits}</tr></table>"


def _image(path: Path, title: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<h2>{title}</h2><img alt="{title}" src="data:image/png;base64,{data}">'


def render_html(report: Mapping[str, Any], figures: Mapping[str, Path]) -> str:
    """Return the page: the data, the tables at both thresholds, the buckets, every figure."""
    rows = report["rows"]
    data, split = report["dataset"], report["dataset"]["split"]
    counts = split["counts"]
    warnings = "".join(f'<p class="warn">{html.escape(w)}</p>' for w in report["warnings"])
    synthetic = " Synthetic data: not for clinical use." if data["synthetic"] else ""
    figs = "".join(_image(figures[name], title) for name, title in FIGURE_TITLES.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MedRec evaluation report</title>
<style>{_STYLE}</style></head><body>
<h1>MedRec evaluation report</h1>
<p>Dataset <code>{html.escape(data["source_format"])}</code>, fingerprint
<code>{html.escape(data["fingerprint"][:16])}…</code>; split {html.escape(split["method"])},
patients train / val / test: {counts["train"]} / {counts["val"]} / {counts["test"]}; DDI table
<code>{html.escape(report["ddi_source"]["name"])}</code> ({report["ddi_source"]["pairs"]} pairs),
test ground-truth DDI rate {report["test_ground_truth_ddi_rate"]:.4f}.{synthetic}</p>
<p>Every row scores the same {rows[0]["test_visits"]} visits of the same
{rows[0]["test_patients"]} test patients (every visit; a first visit has no past) with the same
metric code, over {report["columns"]} medication columns; mean ± std over
{report["bootstrap_rounds"]} bootstrap rounds on 80% of the patients. The tuned threshold
maximises each row's validation Jaccard.</p>
{warnings}
<h2>Test, fixed threshold</h2>{_table(rows, "fixed")}
<h2>Test, threshold tuned on validation</h2>{_table(rows, "tuned")}
<h2>Test Jaccard by number of past visits (tuned threshold)</h2>{_buckets(rows)}
{figs}
</body></html>
"""
