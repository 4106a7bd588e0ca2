"""Load test of the HTTP API: a bare constant endpoint vs POST /v1/recommendations.

Starts uvicorn (access log off) on 127.0.0.1 with a registered recommender, a GENN-style
pair-risk model over its medications and the shared TWOSIDES DDI table, then drives each
endpoint for a fixed time at each concurrency (default 1, 8, 64, 256) and reports req/s,
p50/p99 latency, server CPU per request and the recommendation/bare req/s ratio measured in the
same run. Writes ``bench/results/api_load_<tag>.json`` and a PNG of throughput and p99 against
concurrency; ``--profile`` also records py-spy flame graphs (SVG) of the server under load at 64
connections, one per endpoint (``api_load_<tag>.svg`` for recommendations,
``api_load_<tag>-healthz.svg``), in phases of their own so the sampler does not skew the figures.
``--client wrk`` drives the load with wrk (Debian package ``wrk``): a C load generator takes far
less of the shared CPU than the Python client, so the server gets more of it.

    OMP_NUM_THREADS=1 python bench/api_load.py --client wrk --tag sqlite --profile
    OMP_NUM_THREADS=1 python bench/api_load.py --client wrk --tag postgresql \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/api_load.py --artifact var/artifacts/ensemble-v1  # any exported recommender

The client runs on the same machine as the server, so both share the CPU; figures are for
comparing the two endpoints in one run (the ratio), not absolute capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
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


def synthetic_pair_model(out: Path, drugs: list[str]) -> Path:
    """A GENN-shaped pair-risk artifact over ``drugs`` with 10 interaction types.

    The logit bias puts about 10% of pairs at a predicted risk of 0.5 or more, the order of the
    DDI rate of GAMENet's recommendations on MIMIC-III (0.08).
    """
    from tests.app.factories import write_pair_risk_artifact

    types = [f"type_{i}" for i in range(10)]
    write_pair_risk_artifact(out, drugs=drugs, types=types, bias=-7.5)
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
  io.write(string.format('WRK {"requests": %%d, "status_errors": %%d, "connect": %%d, ' ..
    '"read": %%d, "write": %%d, "timeout": %%d, "p50_us": %%f, "p99_us": %%f, ' ..
    '"max_us": %%f, "duration_us": %%d}\\n', summary.requests, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(99), latency.max,
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
    """The same measurement as :func:`drive`, with wrk as the client (2 threads at most)."""
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
        command = [
            "wrk",
            f"-t{min(2, concurrency)}",
            f"-c{concurrency}",
            f"-d{int(seconds)}s",
            "-s",
            str(script),
            url,
        ]
        subprocess.run([*command[:3], "-d1s", *command[4:]], capture_output=True, check=True)
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    stats = json.loads(out.split("WRK ", 1)[1].splitlines()[0])
    socket_errors = {k: stats[k] for k in ("connect", "read", "write", "timeout")}
    return {
        "requests": stats["requests"],
        "requests_total": stats["requests"],
        "errors": stats["status_errors"] + sum(socket_errors.values()),
        "status_errors": stats["status_errors"],  # non-2xx/3xx answers
        "socket_errors": sum(socket_errors.values()),
        "socket_error_kinds": socket_errors,  # timeout: no answer within wrk's 2 s
        "req_per_s": stats["requests"] / (stats["duration_us"] / 1e6),
        "p50_ms": stats["p50_us"] / 1000,
        "p99_ms": stats["p99_us"] / 1000,
        "max_ms": stats["max_us"] / 1000,
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


def connections_per_worker(pid: int, port: int) -> list[int]:
    """Established client connections each uvicorn worker holds on ``port`` now, most first.

    The workers share one listening socket and a connection stays with the worker that
    accepted it, so an uneven split makes one worker's clients wait longer.
    """
    counts = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            conns = child.net_connections(kind="tcp")
        except psutil.Error:
            continue
        established = [
            c for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
        ]
        if established:
            counts.append(len(established))
    return sorted(counts, reverse=True)


def measured(pid: int, run: Any, port: int, seconds: float) -> dict[str, Any]:
    """Run one load phase; add the server's CPU milliseconds per request (contention-robust).

    Half-way through, the split of the connections between the workers is recorded.
    """
    split: list[int] = []
    sampler = threading.Timer(
        1.0 + seconds / 2, lambda: split.extend(connections_per_worker(pid, port))
    )
    sampler.start()
    before = server_cpu_seconds(pid)
    result: dict[str, Any] = asyncio.run(run)
    result["server_cpu_ms_per_request"] = (
        (server_cpu_seconds(pid) - before) * 1000 / max(1.0, result["requests_total"])
    )
    sampler.join()
    result["connections_per_worker"] = split
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, help="exported artifact (default: synthetic)")
    parser.add_argument(
        "--ddi", type=Path, help="DDI CSV to load (default: the shared TWOSIDES one)"
    )
    parser.add_argument("--build-artifact", type=Path, help="only write the synthetic artifact")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp home")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--concurrency", default="1,8,64,256", help="comma-separated connection counts"
    )
    parser.add_argument("--workers", type=int, default=None, help="default: the settings'")
    parser.add_argument("--client", choices=["httpx", "wrk"], default="httpx")
    parser.add_argument("--tag", default="sqlite", help="names the files under --out-dir")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--profile", action="store_true", help="also record a py-spy SVG")
    parser.add_argument(
        "--query", default="", help="query string for the recommendation URL (e.g. pairs=all)"
    )
    return parser.parse_args()


def _prepare(args: argparse.Namespace, home: Path) -> tuple[Settings, Path, dict[str, Any], str]:
    """Migrate, register and activate the models, load the DDI table; return what serving needs."""
    settings = Settings(_env_file=None, home=home, database_url=args.database_url)
    upgrade_db(settings)
    artifact = args.artifact or synthetic_artifact(home / "artifact")
    row = register_model(settings, artifact, activate=True)
    meds = list(read_manifest(artifact).vocab["med"])
    register_model(settings, synthetic_pair_model(home / "genn", meds), activate=True)
    ddi = args.ddi or ROOT.parent / "shared" / "data" / "ddi" / "atc3_ddi_twosides.csv"
    if ddi.is_file():
        load_ddi_file(settings, ddi, source="twosides")
    key = create_key(settings, role="clinician", name="bench")
    model = {"name": row.name, "version": row.version, "sha256": row.sha256}
    return settings, artifact, model, key


def _postgres_schema(url: str) -> tuple[str, str]:
    """A fresh schema for this run (others may share the database); return it and its URL."""
    from sqlalchemy import create_engine, text

    schema = f"medrec_bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return schema, f"{url}{sep}options=-csearch_path%3D{schema}"


def _drop_postgres_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _serve(
    settings: Settings, workers: int | None, model: str
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``medrec serve`` with ``model`` as the default recommender; wait until ready."""
    port = _free_port()
    env = {
        **os.environ,
        "MEDREC_HOME": str(settings.home),
        "MEDREC_DEFAULT_MODEL": model,  # an --artifact may be G-BERT or an ensemble
        "MEDREC_DATABASE_URL": settings.database_url,
        "MEDREC_LOG_LEVEL": "warning",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.terminate()
    raise SystemExit("server did not become ready")


def response_bytes(url: str, bodies: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Mean and max body size of the recommendation answers (every bench body once)."""
    sizes = []
    with httpx.Client(headers={"X-API-Key": key}, timeout=30) as client:
        for body in bodies:
            r = client.post(url, json=body)
            r.raise_for_status()
            sizes.append(len(r.content))
    return {"mean": float(np.mean(sizes)), "max": float(max(sizes))}


def profile(pid: int, out: Path, seconds: float, run: Any) -> None:
    """Record a py-spy flame graph of the server (all workers) while ``run`` drives load."""
    spy_bin = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    spy = subprocess.Popen(
        [spy_bin, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", "200"]
        + ["--duration", str(int(seconds)), "--format", "flamegraph", "--output", str(out)],
        stdout=subprocess.DEVNULL,
    )
    asyncio.run(run)
    spy.wait(timeout=seconds + 60)


def plot(rows: list[dict[str, Any]], out: Path, title: str) -> None:
    """Throughput and p99 of both endpoints against concurrency (log x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for endpoint in ("bare", "recommendations"):
        xs = [r["concurrency"] for r in rows]
        ax1.plot(xs, [r[endpoint]["req_per_s"] for r in rows], marker="o", label=endpoint)
        ax2.plot(xs, [r[endpoint]["p99_ms"] for r in rows], marker="o", label=endpoint)
    for ax, label in ((ax1, "req/s"), (ax2, "p99 ms")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax2.set_yscale("log")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def _table(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'conn':>5} {'endpoint':<26}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'cpu ms/req':>11}"
        f"{'errors':>8}{'ratio':>7}"
    )
    for row in rows:
        for name, key in (
            ("GET /healthz", "bare"),
            ("POST /v1/recommendations", "recommendations"),
        ):
            r = row[key]
            ratio = f"{row['ratio_req_per_s']:.3f}" if key == "recommendations" else ""
            print(
                f"{row['concurrency']:>5} {name:<26}{r['req_per_s']:>9.0f}{r['p50_ms']:>9.1f}"
                f"{r['p99_ms']:>9.1f}{r['server_cpu_ms_per_request']:>11.2f}{r['errors']:>8}"
                f"{ratio:>7}"
            )


def main() -> None:
    args = _arguments()
    if args.build_artifact:
        synthetic_artifact(args.build_artifact)
        return
    home = Path(tempfile.mkdtemp(prefix="medrec-bench-"))
    server_url, schema = args.database_url, None
    if server_url.startswith("postgresql"):
        schema, args.database_url = _postgres_schema(server_url)
    try:
        _run(args, home)
    finally:
        if schema is not None:
            _drop_postgres_schema(server_url, schema)


def _run(args: argparse.Namespace, home: Path) -> None:
    settings, artifact, model, key = _prepare(args, home)
    server, base = _serve(settings, args.workers, model["name"])
    client = drive_wrk if args.client == "wrk" else drive
    url = f"{base}/v1/recommendations" + (f"?{args.query}" if args.query else "")
    bodies = patients(artifact, 256)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.out_dir / f"api_load_{args.tag}"
    rows = []
    try:
        sizes = response_bytes(url, bodies, key)
        for c in (int(x) for x in args.concurrency.split(",")):
            port = int(base.rsplit(":", 1)[1])
            bare = measured(
                server.pid, client(f"{base}/healthz", None, {}, args.seconds, c), port, args.seconds
            )
            rec = measured(
                server.pid,
                client(url, bodies, {"X-API-Key": key}, args.seconds, c),
                port,
                args.seconds,
            )
            rows.append(
                {
                    "concurrency": c,
                    "bare": bare,
                    "recommendations": rec,
                    "ratio_req_per_s": rec["req_per_s"] / bare["req_per_s"],
                    "ratio_server_cpu_per_request": (
                        bare["server_cpu_ms_per_request"] / rec["server_cpu_ms_per_request"]
                    ),
                }
            )
        if args.profile:
            run = client(url, bodies, {"X-API-Key": key}, args.seconds, 64)
            profile(server.pid, stem.with_suffix(".svg"), args.seconds, run)
            run = client(f"{base}/healthz", None, {}, args.seconds, 64)
            profile(server.pid, stem.with_name(f"{stem.name}-healthz.svg"), args.seconds, run)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "model": model,
        "workers": args.workers or settings.workers,
        "client": args.client,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "database": settings.database_url.split(":", 1)[0].split("+")[0],
        "query": args.query,
        "response_bytes": sizes,
        "runs": rows,
        "load_average": os.getloadavg(),
    }
    _table(rows)
    print(
        f"response bytes: mean {sizes['mean']:.0f}, max {sizes['max']:.0f}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, stem.with_suffix(".png"), f"api_load {args.tag} ({result['database']})")
    print(f"wrote {stem}.json and .png" + (" and the .svg flame graphs" if args.profile else ""))


if __name__ == "__main__":
    main()
