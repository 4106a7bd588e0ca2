from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.services.table_snapshot import TableSnapshot


@dataclass(frozen=True)
class _View:
    signature: tuple[Any, ...]


def test_the_view_is_reloaded_only_when_due_and_the_signature_changed() -> None:
    now, signature, loads, checks = [0.0], [(1,)], [], []

    def sign(_: Any) -> tuple[Any, ...]:
        checks.append(now[0])
        return signature[0]

    def load(_: Any, sig: tuple[Any, ...]) -> _View:
        loads.append(sig)
        return _View(sig)

    snap = TableSnapshot(5.0, signature=sign, load=load, clock=lambda: now[0])
    assert snap.fresh() is None
    first = snap.view(None)  # type: ignore[arg-type]
    assert snap.view(None) is first and snap.fresh() is first  # type: ignore[arg-type]
    now[0] = 6.0  # due: the signature is checked, unchanged, so no reload
    assert snap.fresh() is None and snap.view(None) is first  # type: ignore[arg-type]
    signature[0] = (2,)
    now[0] = 12.0
    assert snap.view(None).signature == (2,)  # type: ignore[arg-type]
    assert loads == [(1,), (2,)] and checks == [0.0, 6.0, 12.0]
    snap.invalidate()
    assert snap.fresh() is None
