"""A model version's evaluation report page: its ``report.html`` beside the active version.

``GET /v1/models/{name}/versions/{version}/report`` serves the artifact's ``report.html`` (export
writes it) with a section MedRec puts first in its body: the version's stored metrics beside the
active version's (the two DB rows), and, for a version a training job produced, the promotion
gate's comparison on the candidate's held-out split (the artifact's ``comparison.json``).

Safety: the report is read from the version's own artifact directory only (a regular file, not
a link, at most :data:`MAX_REPORT_BYTES`); an ``<img>`` naming a plain PNG file of that directory
(``curves.png``) gets the file inlined as a ``data:`` URI; everything MedRec renders is escaped;
and the page is served under :data:`REPORT_CSP`: no scripts, no fetches, images from ``data:``
only, and a sandbox (no forms, no popups, no navigation by the page), so a report can neither run
code nor take the reader elsewhere.
"""

from __future__ import annotations

import base64
import html
import json
import re
import stat
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.contract.artifact import REPORT_FILE
from app.crud import model_versions as crud
from app.db.models import ModelVersion
from app.errors import ArtifactError, ModelNotFound, NotFound
from app.jobs.pipeline import COMPARISON_FILE

REPORT_CSP = "; ".join(
    (
        "default-src 'none'",
        "img-src data:",
        "style-src 'unsafe-inline'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "sandbox",
    )
)
MAX_REPORT_BYTES = 32 << 20
MAX_IMAGE_BYTES = 16 << 20
_PNG = b"\x89PNG\r\n\x1a\n"
_BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_IMG_FILE = re.compile(r"""(<img\b[^>]*?\bsrc\s*=\s*)(["'])([A-Za-z0-9_.-]+\.png)\2""", re.I)
_STYLE = (
    "#medrec-comparison{font-family:sans-serif;border:2px solid #345;padding:0.5em 1em;"
    "margin:0 0 1.5em}#medrec-comparison table{border-collapse:collapse}"
    "#medrec-comparison td,#medrec-comparison th{border:1px solid #999;padding:2px 8px;"
    "text-align:right}#medrec-comparison th:first-child,#medrec-comparison td:first-child"
    "{text-align:left}"
)


def _artifact_file(artifact_dir: Path, name: str, limit: int) -> bytes | None:
    """A regular file of ``artifact_dir`` named by a plain file name; ``None`` when there is none.

    Raises:
        ArtifactError: the file is larger than ``limit`` bytes.
    """
    if name in ("", ".", "..") or name != Path(name).name:
        return None
    path = artifact_dir / name
    try:
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    if info.st_size > limit:
        raise ArtifactError(f"{name} is larger than {limit >> 20} MiB")
    return path.read_bytes()


def _inline_images(report: str, artifact_dir: Path) -> str:
    """Inline each ``<img src="NAME.png">`` that names a PNG file of the artifact directory."""

    def inline(match: re.Match[str]) -> str:
        try:
            data = _artifact_file(artifact_dir, match.group(3), MAX_IMAGE_BYTES)
        except ArtifactError:
            data = None
        if data is None or not data.startswith(_PNG):
            return match.group(0)
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        return f"{match.group(1)}{match.group(2)}{uri}{match.group(2)}"

    return _IMG_FILE.sub(inline, report)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return f"{value:.4f}"


def _summary(value: object) -> str:
    """``mean ± std`` of a stored metric, or ``–``."""
    if not isinstance(value, dict):
        return "–"
    return f"{_number(value.get('mean'))} ± {_number(value.get('std'))}"


def _difference(this: object, other: object) -> str:
    a = this.get("mean") if isinstance(this, dict) else None
    b = other.get("mean") if isinstance(other, dict) else None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b)):
        return "–"
    return f"{a - b:+.4f}"  # type: ignore[operator]


def _label(row: ModelVersion) -> str:
    return f"{row.name} v{row.version} ({row.status})"


def _metrics_table(row: ModelVersion, active: ModelVersion | None) -> str:
    """The stored metrics of ``row`` and ``active`` side by side: one line per split and metric."""
    other = None if active is None or active.id == row.id else active
    head = f"<th>{_esc(_label(row))}</th>"
    if other is not None:
        head += f"<th>{_esc(_label(other))}</th><th>difference</th>"
    theirs_all: dict[str, Any] = other.metrics if other is not None else {}
    lines = []
    for split in dict.fromkeys([*row.metrics, *theirs_all]):
        mine, theirs = row.metrics.get(split) or {}, theirs_all.get(split) or {}
        for metric in dict.fromkeys([*mine, *theirs]):
            cells = [_summary(mine.get(metric))]
            if other is not None:
                cells += [
                    _summary(theirs.get(metric)),
                    _difference(mine.get(metric), theirs.get(metric)),
                ]
            tds = "".join(f"<td>{_esc(c)}</td>" for c in cells)
            lines.append(f"<tr><td>{_esc(split)} {_esc(metric)}</td>{tds}</tr>")
    span = 2 if other is None else 4
    body = "".join(lines) or f'<tr><td colspan="{span}">no stored metrics</td></tr>'
    return (
        '<table id="medrec-metrics"><caption>Stored metrics (mean ± std over the bootstrap '
        f"rounds of each version's own test split)</caption><thead><tr><th>metric</th>{head}"
        f"</tr></thead><tbody>{body}</tbody></table>"
    )


def _gate_section(artifact_dir: Path) -> str:
    """The job's comparison on the candidate's held-out split, when the version has one."""
    try:
        data = _artifact_file(artifact_dir, COMPARISON_FILE, MAX_REPORT_BYTES)
        report = json.loads(data) if data is not None else None
    except (ArtifactError, ValueError):
        report = None
    if not isinstance(report, dict) or not isinstance(report.get("candidate"), dict):
        return ""
    candidate: dict[str, Any] = report["candidate"]
    active: dict[str, Any] | None = (
        report["active"] if isinstance(report.get("active"), dict) else None
    )
    head = "<th>this version (candidate)</th>"
    if active is not None:
        head += f"<th>v{_esc(active.get('version'))} (active then)</th>"
    lines = []
    for metric, value in candidate.items():
        cells = [_number(value.get("point")) if isinstance(value, dict) else "–"]
        if active is not None:
            other = active.get(metric)
            cells.append(_number(other.get("point")) if isinstance(other, dict) else "–")
        tds = "".join(f"<td>{_esc(c)}</td>" for c in cells)
        lines.append(f"<tr><td>{_esc(metric)}</td>{tds}</tr>")
    gate: dict[str, Any] = report["gate"] if isinstance(report.get("gate"), dict) else {}
    reasons: list[Any] = gate["reasons"] if isinstance(gate.get("reasons"), list) else []
    items = "".join(f"<li>{_esc(r)}</li>" for r in reasons)
    activate = gate.get("activate")
    decision = "–" if not isinstance(activate, bool) else "activate" if activate else "keep active"
    return (
        "<h3>Promotion gate: both scored on this candidate's held-out split</h3>"
        f"<p>{_esc(report.get('patients', '–'))} patients, {_esc(report.get('visits', '–'))} "
        f"visits, threshold {_esc(_number(report.get('threshold')))}; decision: "
        f"<strong>{_esc(decision)}</strong></p>"
        f'<table id="medrec-gate"><thead><tr><th>metric (point)</th>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table><ul>{items}</ul>"
    )


def _comparison(row: ModelVersion, active: ModelVersion | None) -> str:
    if active is None:
        note = f"No version of {row.name} is active."
    elif active.id == row.id:
        note = "This version is the active one."
    else:
        note = f"The active version is v{active.version}."
    return (
        f'<section id="medrec-comparison"><style>{_STYLE}</style>'
        f"<h2>{_esc(_label(row))}</h2><p>{_esc(note)}</p>"
        f"{_metrics_table(row, active)}{_gate_section(Path(row.path))}</section>"
    )


def version_report_page(*, session: Session, name: str, version: int) -> str:
    """The HTML report page of ``name`` v``version`` (serve it under :data:`REPORT_CSP`).

    Raises:
        ModelNotFound: no such registered version.
        NotFound: the version's artifact has no ``report.html``.
        ArtifactError: the report is over :data:`MAX_REPORT_BYTES`.
    """
    row = crud.get_model_version(session=session, name=name, version=version)
    if row is None:
        raise ModelNotFound(f"{name} v{version} is not registered")
    artifact_dir = Path(row.path)
    data = _artifact_file(artifact_dir, REPORT_FILE, MAX_REPORT_BYTES)
    if data is None:
        raise NotFound(f"{name} v{version} has no evaluation report")
    active = next((r for r in crud.get_active_versions(session=session) if r.name == name), None)
    report = _inline_images(data.decode("utf-8", errors="replace"), artifact_dir)
    section = _comparison(row, active)
    body = _BODY.search(report)
    if body is not None:
        return report[: body.end()] + section + report[body.end() :]
    title = _esc(f"{name} v{version}: evaluation report")
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body>{section}{report}</body></html>"
    )
