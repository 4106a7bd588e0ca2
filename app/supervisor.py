"""``medrec serve --workers N`` (N > 1): N uvicorn workers, each with a listening socket of its own.

uvicorn's own supervisor binds one socket and shares it between its workers. Under load that left
new connections waiting in the kernel's accept queue for seconds (``bench/api_load.py`` at 256
connections: 99-148 wrk timeouts a run, with up to 180 connections queued): uvloop accepts about
one connection per loop iteration of a busy worker, and asyncio's loop, which accepts everything
queued at once, took every connection into whichever worker woke first. Here each worker binds
its own ``SO_REUSEPORT`` socket, so the kernel spreads the connections over the workers, and runs
asyncio's loop, which accepts its share at once.

The supervisor restarts a worker that exits on its own and, on SIGTERM or SIGINT, sends SIGTERM
to every worker and waits for their graceful shutdown (the audit queue's last flush included).
The workers stay in the supervisor's process group, so a terminal's Ctrl-C also reaches them:
uvicorn skips the graceful shutdown only on a *second SIGINT*, and the supervisor never sends one.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)
# How uvicorn runs the app, with one worker or many. uvicorn's access log records the raw target,
# query string and all (codes are PHI); the service logs the route template instead (logger
# ``medrec.access``).
APP_OPTIONS: dict[str, Any] = {"app": "app.main:asgi", "factory": True, "access_log": False}
BACKLOG = 2048
SHUTDOWN_SECONDS = 60.0  # a worker still running after this is killed
_CHECK_SECONDS = 0.5


def listening_socket(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    """A TCP socket on ``host:port`` that other sockets of this user may bind too (SO_REUSEPORT).

    The protocol is given explicitly: asyncio sets TCP_NODELAY only on sockets whose ``proto``
    is TCP, and without it every small answer waited ~40 ms for a delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def serve_worker(host: str, port: int, log_level: str) -> None:
    """One worker: its own socket, asyncio's loop, the app of ``app.main:asgi``."""
    import uvicorn

    sock = listening_socket(host, port)
    config = uvicorn.Config(**APP_OPTIONS, log_level=log_level, loop="asyncio")
    uvicorn.Server(config).run(sockets=[sock])


def supervise(host: str, port: int, workers: int, log_level: str) -> int:
    """Run ``workers`` workers on ``host:port`` until SIGTERM or SIGINT; return the exit status.

    Raises:
        OSError: ``host:port`` cannot be bound (checked once, before any worker starts).
    """
    listening_socket(host, port, 1).close()  # a port in use fails here, once
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> BaseProcess:
        process = context.Process(
            target=serve_worker, args=(host, port, log_level), name="medrec-worker"
        )
        process.start()
        return process

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        logger.info("%s: stopping %d workers", signal.Signals(signum).name, len(processes))
        # At once, not after the loop's sleep: a worker stops accepting when it hears it.
        _terminate(processes)

    processes = [start() for _ in range(workers)]
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping:
            for i, process in enumerate(processes):
                if not process.is_alive() and not stopping:
                    logger.warning(
                        "worker %s exited (code %s); starting another",
                        process.pid,
                        process.exitcode,
                    )
                    processes[i] = start()
            time.sleep(_CHECK_SECONDS)
    finally:
        if not stopping:  # left the loop on an error: the workers have not been told
            _terminate(processes)
        deadline = time.monotonic() + SHUTDOWN_SECONDS
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.error(
                    "worker %s did not stop in %g s; killed", process.pid, SHUTDOWN_SECONDS
                )
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # uvicorn re-raises the signal it stopped on once it has shut down, so a clean stop ends a
    # worker with that signal; a worker killed after the timeout is not clean.
    clean = {0, -signal.SIGTERM, -signal.SIGINT}
    return 0 if all(p.exitcode in clean for p in processes) else 1


def _terminate(processes: list[BaseProcess]) -> None:
    """SIGTERM to each live worker (a second one is harmless: only a second SIGINT forces)."""
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
