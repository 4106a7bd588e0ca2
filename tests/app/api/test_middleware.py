from __future__ import annotations

import asyncio
from collections.abc import Iterator

from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from app.api.middleware import BodyLimitMiddleware

MIB = 1 << 20


def test_body_over_limit_with_content_length(client: TestClient, clinician: dict[str, str]) -> None:
    body = b'{"visits": [' + b" " * MIB + b"]}"
    r = client.post(
        "/v1/recommendations",
        content=body,
        headers={**clinician, "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"


def test_chunked_body_over_limit(client: TestClient, clinician: dict[str, str]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"visits": ['
        for _ in range(20):
            yield b" " * (64 * 1024)
        yield b"]}"

    r = client.post(
        "/v1/recommendations",
        content=chunks(),
        headers={**clinician, "Content-Type": "application/json"},
    )
    assert r.status_code == 413


def test_body_under_limit_reaches_the_app(client: TestClient, clinician: dict[str, str]) -> None:
    body = b'{"visits": [{}]' + b" " * (MIB - 100) + b"}"
    r = client.post(
        "/v1/recommendations",
        content=body,
        headers={**clinician, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text


def test_limit_counts_streamed_chunks_without_content_length() -> None:
    seen: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def run(sizes: list[int]) -> int:
        messages = [
            {"type": "http.request", "body": b"x" * n, "more_body": i < len(sizes) - 1}
            for i, n in enumerate(sizes)
        ]
        sent: list[Message] = []

        async def receive() -> Message:
            return messages.pop(0)

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        await BodyLimitMiddleware(app, max_bytes=1000)(scope, receive, send)
        return int(sent[0]["status"])

    assert asyncio.run(run([600, 600])) == 413
    assert seen == []
    assert asyncio.run(run([400, 400, 200])) == 204
    assert seen == [b"x" * 1000]
