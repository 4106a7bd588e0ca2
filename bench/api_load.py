"""Load test of the HTTP API: a bare constant endpoint vs POST /v1/recommendations.

Starts uvicorn (2 workers, access log off) on 127.0.0.1 with a registered artifact, then drives
each endpoint for a fixed time with an async httpx client at 64 concurrent connections, and
reports req/s, p50/p99 latency and the recommendation/bare req/s ratio. Writes JSON.
``--client wrk`` drives the load with wrk (Debian package ``wrk``) instead: a C load generator
takes far less of the shared CPU than the Python client, so the server gets more of it.

    OMP_NUM_THREADS=1 python bench/api_load.py                      # synthetic GAMENet-sized model
    python bench/api_load.py --artifact var/artifacts/gamenet-v1    # a real exported artifact

The client runs on the same machine as the server, so both share the CPU; figures are for
comparing the two endpoints in one run, not absolute capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.admin import create_key, load_ddi_file, register_model, upgrade_db  # noqa: E402
from app.inference.onnx import read_manifest  # noqa: E402
from app.settings import Settings  # noqa: E402


def synthetic_artifact(out: Path) -> Path:
    """A GAMENet-sized synthetic model: 2000 diagnoses, 1000 procedures, 150 ATC3, dim 64.

    Weights are scaled so that ~10-15 medications pass the 0.3 threshold, as in GAMENet.
    """
    from tests.app.factories import write_recommender_artifact

    rng = random.Random(0)
    diag = sorted({("icd9cm", f"{rng.randint(10, 99999):05d}") for _ in range(2400)})[:2000]
    proc = sorted({("icd9proc", f"{rng.randint(10, 9999):04d}") for _ in range(1200)})[:1000]
    meds = sorted({f"{g}{n:02d}{s}" for g in "ABCDGHJLMNR" for n in range(1, 15) for s in "AB"})
    write_recommender_artifact(
        out,
        vocab={"diag": [list(c) for c in diag], "proc": [list(c) for c in proc], "med": meds[:150]},
        dim=64,
        bias=-5.0,
        med_scale=0.1,
    )
    return out


def patients(artifact: Path, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Realistic 3-visit bodies from the model vocabulary (~10 dx, ~3 px, ~8 past meds a visit)."""
    vocab = read_manifest(artifact).vocab
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        visits = []
        for v in range(3):
            visit: dict[str, Any] = {
                "diagnoses": [{"system": s, "code": c} for s, c in rng.sample(vocab["diag"], 10)],
                "procedures": [
                    {"system": s, "code": c}
                    for s, c in rng.sample(vocab["proc"], min(3, len(vocab["proc"])))
                ],
            }
            if v < 2:
                visit["medications"] = rng.sample(vocab["med"], 8)
            visits.append(visit)
        out.append({"visits": visits})
    return out


async def drive(
    url: str,
    bodies: list[dict[str, Any]] | None,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
) -> dict[str, float]:
    """Run ``concurrency`` loops against ``url`` for ``seconds``; return req/s and latencies."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as client:

        async def loop(worker: int, until: float, record: bool) -> None:
            nonlocal errors, sent
            i = worker
            while time.perf_counter() < until:
                start = time.perf_counter()
                if bodies is None:
                    r = await client.get(url)
                else:
                    r = await client.post(url, json=bodies[i % len(bodies)])
                i += concurrency
                sent += 1
                if record:
                    latencies.append(time.perf_counter() - start)
                    errors += r.status_code != 200

        warm = time.perf_counter() + 1.0
        await asyncio.gather(*(loop(w, warm, False) for w in range(concurrency)))
        start = time.perf_counter()
        await asyncio.gather(*(loop(w, start + seconds, True) for w in range(concurrency)))
        elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "requests_total": sent,  # with the warm-up second, for CPU accounting
        "errors": errors,
        "req_per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


WRK_SCRIPT = """
local bodies = {}
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "%(method)s"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "%(key)s"
request = function()
  if #bodies == 0 then return wrk.format() end
  i = i %% #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %%d, "status_errors": %%d, "socket_errors": %%d, ' ..
    '"p50_us": %%f, "p99_us": %%f, "duration_us": %%d}\\n', summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99),
    summary.duration))
end
"""


async def drive_wrk(
    url: str,
    bodies: list[dict[str, Any]] | None,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
) -> dict[str, float]:
    """The same measurement as :func:`drive`, with wrk as the client (2 threads)."""
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "bodies.jsonl"
        body_file.write_text("".join(json.dumps(b) + "\n" for b in bodies or []))
        script = Path(tmp) / "load.lua"
        script.write_text(
            WRK_SCRIPT
            % {
                "bodies": body_file,
                "method": "POST" if bodies else "GET",
                "key": headers.get("X-API-Key", ""),
            }
        )
        command = ["wrk", "-t2", f"-c{concurrency}", f"-d{int(seconds)}s", "-s", str(script), url]
        subprocess.run([*command[:3], "-d1s", *command[4:]], capture_output=True, check=True)
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    stats = json.loads(out.split("WRK ", 1)[1].splitlines()[0])
    return {
        "requests": stats["requests"],
        "requests_total": stats["requests"],
        "errors": stats["status_errors"] + stats["socket_errors"],
        "req_per_s": stats["requests"] / (stats["duration_us"] / 1e6),
        "p50_ms": stats["p50_us"] / 1000,
        "p99_ms": stats["p99_us"] / 1000,
    }


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the uvicorn supervisor and its workers so far."""
    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def measured(pid: int, run: Any) -> dict[str, float]:
    """Run one load phase; add the server's CPU milliseconds per request (contention-robust)."""
    before = server_cpu_seconds(pid)
    result: dict[str, float] = asyncio.run(run)
    result["server_cpu_ms_per_request"] = (
        (server_cpu_seconds(pid) - before) * 1000 / max(1.0, result["requests_total"])
    )
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, help="exported artifact (default: synthetic)")
    parser.add_argument(
        "--ddi", type=Path, help="DDI CSV to load (default: the shared TWOSIDES one)"
    )
    parser.add_argument("--build-artifact", type=Path, help="only write the synthetic artifact")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp home")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client", choices=["httpx", "wrk"], default="httpx")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "api_load.json")
    args = parser.parse_args()
    if args.build_artifact:
        synthetic_artifact(args.build_artifact)
        return

    home = Path(tempfile.mkdtemp(prefix="medrec-bench-"))
    settings = Settings(_env_file=None, home=home, database_url=args.database_url)
    upgrade_db(settings)
    artifact = args.artifact or synthetic_artifact(home / "artifact")
    row = register_model(settings, artifact, activate=True)
    ddi = args.ddi or ROOT.parent / "shared" / "data" / "ddi" / "atc3_ddi_twosides.csv"
    if ddi.is_file():
        load_ddi_file(settings, ddi, source="twosides")
    key = create_key(settings, role="clinician", name="bench")
    port = _free_port()
    env = {
        **os.environ,
        "MEDREC_HOME": str(home),
        "MEDREC_DATABASE_URL": settings.database_url,
        "MEDREC_LOG_LEVEL": "warning",
        "OMP_NUM_THREADS": "1",
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
            str(args.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("server did not become ready")
        bodies = patients(artifact, 256)
        client = drive_wrk if args.client == "wrk" else drive
        bare = measured(
            server.pid, client(f"{base}/healthz", None, {}, args.seconds, args.concurrency)
        )
        rec = measured(
            server.pid,
            client(
                f"{base}/v1/recommendations",
                bodies,
                {"X-API-Key": key},
                args.seconds,
                args.concurrency,
            ),
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "model": {"name": row.name, "version": row.version, "sha256": row.sha256},
        "workers": args.workers,
        "client": args.client,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "database": settings.database_url.split(":", 1)[0],
        "bare": bare,
        "recommendations": rec,
        "ratio_req_per_s": rec["req_per_s"] / bare["req_per_s"],
        "ratio_server_cpu_per_request": (
            bare["server_cpu_ms_per_request"] / rec["server_cpu_ms_per_request"]
        ),
        "load_average": os.getloadavg(),
    }
    print(f"{'endpoint':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, r in (("GET /healthz", bare), ("POST /v1/recommendations", rec)):
        print(
            f"{name:<22}{r['req_per_s']:>10.0f}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}"
            f"{r['errors']:>8}"
        )
    print(
        f"ratio (recommendations / bare req/s): {result['ratio_req_per_s']:.2f}; "
        f"bare / recommendations server CPU per request: "
        f"{result['ratio_server_cpu_per_request']:.2f}; load average {os.getloadavg()[0]:.1f}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
