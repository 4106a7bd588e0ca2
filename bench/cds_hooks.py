"""Latency of CDS Hooks card responses on loopback, against /healthz measured in the same run.

Starts uvicorn (one worker) on 127.0.0.1 with a GAMENet-sized synthetic recommender
(bench/api_load.py's), the tiny test pair-risk model, the shared TWOSIDES DDI table and NDC map
when present, and a trusted client whose JWKS is inline. Then, one request at a time, each with a
freshly signed RS384 JWT (so every call verifies a signature and records a jti):

- ``order-select`` on ``medrec-medication-check``: 3 draft orders against 8 active medications;
- ``patient-view`` on ``medrec-recommend``: 3 encounters of ~10 Conditions and ~3 Procedures,
  prefetched, ~8 past medications each;
- ``GET /healthz``, the floor of a request through the same server.

    OMP_NUM_THREADS=1 python bench/cds_hooks.py --requests 300

Prints p50/p95/p99/max in ms and writes bench/results/cds_hooks.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import numpy as np
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from api_load import _free_port, patients, synthetic_artifact  # noqa: E402

from app.admin import load_ddi_file, load_vocab_file, register_model, upgrade_db  # noqa: E402
from app.contract.fhir import ATC, ICD9CM  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.app.factories import write_pair_risk_artifact  # noqa: E402

ISS = "https://bench-ehr.example.org"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks() -> dict[str, Any]:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
    return {"keys": [{**public, "kid": "k1"}]}


def _token(aud: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, KEY, algorithm="RS384", headers={"kid": "k1"})


def _med(id_: str, atc: str, status: str, encounter: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": id_,
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": ATC, "code": atc}]},
    }
    if encounter:
        res["encounter"] = {"reference": f"Encounter/{encounter}"}
    return res


def _bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def order_select(meds: list[str], i: int) -> dict[str, Any]:
    drafts = [_med(f"d{j}", meds[(i + j) % len(meds)], "draft") for j in range(3)]
    active = [_med(f"a{j}", meds[(i * 7 + j) % len(meds)], "active") for j in range(8)]
    return {
        "hook": "order-select",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/1",
            "patientId": "p1",
            "selections": [f"MedicationRequest/{d['id']}" for d in drafts],
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": d} for d in drafts]},
        },
        "prefetch": {"medications": _bundle(active)},
    }


def patient_view(body: dict[str, Any]) -> dict[str, Any]:
    encounters, conditions, procedures, meds = [], [], [], []
    for v, visit in enumerate(body["visits"]):
        enc = f"e{v}"
        encounters.append(
            {
                "resourceType": "Encounter",
                "id": enc,
                "status": "finished",
                "class": {"code": "IMP"},
                "period": {"start": f"2025-01-0{v + 1}"},
            }
        )
        for kind, out in (("diagnoses", conditions), ("procedures", procedures)):
            for j, c in enumerate(visit.get(kind, [])):
                out.append(
                    {
                        "resourceType": "Condition" if kind == "diagnoses" else "Procedure",
                        "id": f"{kind[0]}{v}-{j}",
                        "status": "completed",
                        "encounter": {"reference": f"Encounter/{enc}"},
                        "code": {"coding": [{"system": ICD9CM, "code": c["code"]}]},
                    }
                )
        meds += [
            _med(f"m{v}-{j}", m, "completed", enc)
            for j, m in enumerate(visit.get("medications", []))
        ]
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": "p1", "encounterId": "e2"},
        "prefetch": {
            "encounters": _bundle(encounters),
            "conditions": _bundle(conditions),
            "procedures": _bundle(procedures),
            "medications": _bundle(meds),
        },
    }


def _timed(client: httpx.Client, make: Any, n: int, warmup: int) -> dict[str, float]:
    times = []
    for i in range(warmup + n):
        method, url, headers, body = make(i)
        start = time.perf_counter()
        r = client.request(method, url, headers=headers, json=body)
        elapsed = (time.perf_counter() - start) * 1000
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code} {r.text[:200]}")
        if i >= warmup:
            times.append(elapsed)
    a = np.array(times)
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p95_ms": float(np.percentile(a, 95)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
        "n": n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cds_hooks.json")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="medrec-cds-bench-"))
    settings = Settings(_env_file=None, home=home)
    upgrade_db(settings)
    artifact = synthetic_artifact(home / "gamenet")
    register_model(settings, artifact, activate=True)
    write_pair_risk_artifact(home / "genn")
    register_model(settings, home / "genn", activate=True)
    shared = ROOT.parent / "shared" / "data"
    if (shared / "ddi" / "atc3_ddi_twosides.csv").is_file():
        load_ddi_file(settings, shared / "ddi" / "atc3_ddi_twosides.csv", source="twosides")
        load_vocab_file(settings, shared / "mappings" / "ndc2atc.csv")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MEDREC_HOME": str(home),
        "MEDREC_DATABASE_URL": settings.database_url,
        "MEDREC_LOG_LEVEL": "warning",
        "OMP_NUM_THREADS": "1",
        "MEDREC_CDS_BASE_URL": base,
        "MEDREC_CDS_CLIENTS": json.dumps([{"iss": ISS, "jwks": _jwks()}]),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "app.main:asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    meds = json.loads((artifact / "manifest.json").read_text())["vocab"]["med"]
    bodies = [patient_view(b) for b in patients(artifact, 64)]
    check, recommend = (
        f"{base}/cds-services/medrec-medication-check",
        f"{base}/cds-services/medrec-recommend",
    )
    try:
        with httpx.Client(timeout=30) as client:
            for _ in range(200):
                try:
                    if client.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                raise SystemExit("server did not become ready")
            auth = lambda aud: {"Authorization": f"Bearer {_token(aud)}"}  # noqa: E731
            results = {
                "healthz": _timed(
                    client,
                    lambda i: ("GET", f"{base}/healthz", {}, None),
                    args.requests,
                    args.warmup,
                ),
                "order-select": _timed(
                    client,
                    lambda i: ("POST", check, auth(check), order_select(meds, i)),
                    args.requests,
                    args.warmup,
                ),
                "patient-view": _timed(
                    client,
                    lambda i: ("POST", recommend, auth(recommend), bodies[i % len(bodies)]),
                    args.requests,
                    args.warmup,
                ),
            }
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"{'endpoint':<14} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, r in results.items():
        cells = " ".join(f"{r[k]:8.2f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))
        print(f"{name:<14} {cells}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
