"""Worst valid POST /v1/recommendations by request size: what sizes max_visits and codes per visit.

A GAMENet with random weights at MIMIC-III benchmark size (|diag| 1958, |proc| 1430, |med| 145)
is exported to ONNX (the real graph: GRUs, graph memory) and served by the app in-process
(TestClient, SQLite, the GENN-less default). Each request is the worst of its size: every visit
has ``codes`` distinct codes of the vocabulary (half diagnoses, half procedures), so every code
of the last visit is occluded for evidence. Reported: end-to-end median and max over
``--repeats`` calls (body parsing and validation included), against the 100 ms budget. The
default threshold is used; ``threshold: 0`` returns all 145 classes and their 10,440 pairs,
which the serving-speed work caps (reported separately, at the smallest size).

    OMP_NUM_THREADS=1 python bench/request_limits.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.admin import create_key, register_model, upgrade_db  # noqa: E402
from app.contract.manifest import Manifest, recommender_specs  # noqa: E402
from app.contract.visits import RawVisit  # noqa: E402
from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402
from models.gamenet import GAMENet, GAMENetConfig  # noqa: E402
from training.export.artifact import export_onnx  # noqa: E402
from training.gamenet.export import ROLES, GAMENetInference, random_feeds  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "request_limits.json"
SIZES = (1958, 1430, 145)
BUDGET_MS = 100.0
# (visits, codes per visit); (20, 40) is the default limit (30 diagnoses + 10 procedures, the
# schema's cap); past the caps the API answers 422, so those rows time the service's
# ``recommend`` directly (no HTTP, no parsing): (100, 500) is the limit before this one.
GRID = [(1, 40), (10, 40), (20, 32), (20, 40)]
OVER_CAPS = [(30, 40), (50, 40), (100, 100), (100, 500)]


def gamenet_artifact(out: Path) -> None:
    """Export a random-weight GAMENet of MIMIC-III size with a manifest the registry accepts."""
    torch.manual_seed(0)
    nd, npr, m = SIZES
    config = GAMENetConfig(num_diag_codes=nd, num_proc_codes=npr, num_meds=m)
    model = GAMENet(config, torch.randint(0, m, (2, 4 * m)), torch.randint(0, m, (2, m)))
    inputs, outputs = recommender_specs(ROLES, m)
    out.mkdir(parents=True)
    example = random_feeds(*SIZES, patients=2, max_visits=3, max_codes=4)
    export_onnx(GAMENetInference(model).eval(), example, inputs, outputs, out / "model.onnx")
    vocab = {
        "diag": [["icd9cm", f"{i:05d}"] for i in range(nd)],
        "proc": [["icd9proc", f"{i:04d}"] for i in range(npr)],
        "med": [f"{g}{n:02d}{s}" for g in "ABCDGHJLMNR" for n in range(1, 8) for s in "AB"][:m],
    }
    manifest = {
        "schema": 1,
        "name": "gamenet",
        "version": 1,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "onnx_sha256": hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest(),
        "opset": 18,
        "inputs": [s.model_dump() for s in inputs],
        "outputs": [s.model_dump() for s in outputs],
        "vocab": vocab,
        "threshold": 0.5,
        "dataset": {
            "fingerprint": "sha256:b",
            "source_format": "synthetic",
            "patients": 0,
            "visits": 0,
        },
        "intended_use": "Benchmark only.",
        "synthetic": True,
    }
    text = Manifest.model_validate(manifest).model_dump_json(by_alias=True)
    (out / "manifest.json").write_text(text)


def worst_body(visits: int, codes: int, **extra: Any) -> dict[str, Any]:
    """``visits`` visits of ``codes`` distinct vocabulary codes each (a quarter procedures)."""
    half = codes // 4
    body = [
        {
            "diagnoses": [
                {"system": "icd9cm", "code": f"{1 + (v * half + i) % 1957:05d}"}
                for i in range(codes - half)
            ],
            "procedures": [
                {"system": "icd9proc", "code": f"{1 + (v * half + i) % 1429:04d}"}
                for i in range(half)
            ],
        }
        for v in range(visits)
    ]
    return {"visits": body, **extra}


def _time(client: Any, key: str, body: dict[str, Any], repeats: int) -> dict[str, float]:
    payload = json.dumps(body)
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    ms = []
    for i in range(repeats + 2):
        start = time.perf_counter()
        answer = client.post("/v1/recommendations", content=payload, headers=headers)
        if i >= 2:  # two warm-up calls
            ms.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, answer.text
    meds = len(answer.json()["medications"])
    return {
        "median_ms": statistics.median(ms),
        "max_ms": max(ms),
        "bytes": len(payload),
        "meds": meds,
    }


def _time_direct(client: Any, body: dict[str, Any], repeats: int) -> dict[str, float]:
    """The served recommender on ``body``, without HTTP (for sizes past the schema's caps)."""
    recommender = client.app_state["registry"].get("gamenet").recommender
    visits = [
        RawVisit(
            [(c["system"], c["code"]) for c in v["diagnoses"]],
            [(c["system"], c["code"]) for c in v["procedures"]],
        )
        for v in body["visits"]
    ]
    ms = []
    for i in range(repeats + 2):
        start = time.perf_counter()
        answer = recommender.recommend(visits)
        if i >= 2:
            ms.append((time.perf_counter() - start) * 1000)
    meds = len(answer.medications)
    return {"median_ms": statistics.median(ms), "max_ms": max(ms), "bytes": 0, "meds": meds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        # The limits under test are the grid's; the server's own are opened up to reach them.
        settings = Settings(
            _env_file=None,
            home=home,
            max_visits=100,
            max_codes_per_visit=1000,
            max_body_bytes=64 << 20,
            registry_poll_seconds=0,
        )
        upgrade_db(settings)
        gamenet_artifact(home / "artifacts" / "gamenet-v1")
        register_model(settings, home / "artifacts" / "gamenet-v1", activate=True)
        key = create_key(settings, role="clinician", name="bench")
        rows = []
        with TestClient(create_app(settings)) as client:
            for visits, codes in GRID + OVER_CAPS:
                body = worst_body(visits, codes)
                if (visits, codes) in GRID:
                    result = _time(client, key, body, args.repeats)
                else:
                    result = _time_direct(client, body, args.repeats)
                kind = "api" if (visits, codes) in GRID else "recommend() only"
                rows.append({"visits": visits, "codes_per_visit": codes, "via": kind, **result})
                over = "  over budget" if result["max_ms"] > BUDGET_MS else ""
                print(
                    f"{visits:>4} visits x {codes:>3} codes: median {result['median_ms']:7.1f} ms,"
                    f" max {result['max_ms']:7.1f} ms, {result['meds']} meds ({kind}){over}",
                    flush=True,
                )
            all_meds = _time(client, key, worst_body(1, 2, threshold=0.0), args.repeats)
            print(f"   1 visit  x   2 codes, threshold 0: median {all_meds['median_ms']:.1f} ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "rows": rows,
        "threshold_zero": all_meds,
        "budget_ms": BUDGET_MS,
        "sizes": dict(zip(("diag", "proc", "med"), SIZES, strict=True)),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
