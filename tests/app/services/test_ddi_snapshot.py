from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.crud.ddi import DdiRow, get_signature, load_interactions
from app.services.ddi_snapshot import DdiSnapshot


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _load(session: Session, severity: str = "high", pair: tuple[str, str] = ("B01A", "N02B")):
    rows = [DdiRow(pair[0], pair[1], ("bleeding",), severity, "kb")]
    return load_interactions(session=session, rows=rows, source_version="1", replace=False)


def test_snapshot_is_served_from_memory_until_its_max_age(session: Session) -> None:
    _load(session)
    clock = FakeClock()
    snapshot = DdiSnapshot(max_age_seconds=5.0, clock=clock)
    assert snapshot.fresh() is None  # nothing loaded yet: the caller must call view()
    first = snapshot.view(session)
    assert snapshot.fresh() is first
    assert [e.severity for e in first.pairs[("B01A", "N02B")]] == ["high"]
    assert first.drugs == {"B01A", "N02B"}
    _load(session, pair=("A10B", "C07A"))
    clock.now += 4.9
    assert snapshot.view(session) is first  # within the bound: the old copy, no query
    clock.now += 0.2
    assert snapshot.fresh() is None  # due: only view() revalidates
    second = snapshot.view(session)
    assert ("A10B", "C07A") in second.pairs and "A10B" in second.drugs


def test_unchanged_table_keeps_the_copy_and_reload_sees_in_place_updates(
    session: Session,
) -> None:
    _load(session)
    snapshot = DdiSnapshot(max_age_seconds=0.0)
    first = snapshot.view(session)
    assert snapshot.view(session) is first  # same signature: not reloaded
    before = get_signature(session=session)
    _load(session, severity="low")  # the same pair and source again: replaced
    assert get_signature(session=session) != before
    [entry] = snapshot.view(session).pairs[("B01A", "N02B")]
    assert entry.severity == "low"


def test_invalidate_forces_a_reload(session: Session) -> None:
    snapshot = DdiSnapshot(max_age_seconds=3600.0)
    assert not snapshot.view(session).pairs
    _load(session)
    assert not snapshot.view(session).pairs
    snapshot.invalidate()
    assert ("B01A", "N02B") in snapshot.view(session).pairs


def test_admin_load_is_served_at_once_by_its_worker(
    client: TestClient, clinician: dict[str, str], admin: dict[str, str]
) -> None:
    query = {"drugs": ["B01A", "N02B"]}
    before = client.post("/v1/interactions", json=query, headers=clinician).json()
    assert before["pairs"][0]["known"] is False
    table = {
        "csv": "atc3_a,atc3_b,types,severity\nB01A,N02B,bleeding,high\n",
        "source": "kb",
        "source_version": "2",
    }
    assert client.post("/v1/interactions/known", json=table, headers=admin).status_code == 201
    after = client.post("/v1/interactions", json=query, headers=clinician).json()
    assert after["pairs"][0]["known"] is True and after["pairs"][0]["severity"] == "high"


def test_known_matrix_is_built_once_per_model_over_its_columns(session: Session) -> None:
    _load(session)
    _load(session, pair=("A10B", "C07A"))  # A10B is not a column of the model below
    view = DdiSnapshot(max_age_seconds=5.0).view(session)
    drugs = ["N02B", "C07A", "B01A"]
    matrix = view.known_matrix("sha-1", drugs)
    assert matrix.tolist() == [
        [False, False, True],
        [False, False, False],
        [True, False, False],
    ]
    assert view.known_matrix("sha-1", drugs) is matrix  # once per view and model
    assert not matrix.flags.writeable  # shared by requests: read only
    assert view.known_matrix("sha-2", ["B01A", "N02B"]).tolist() == [[False, True], [True, False]]
