from __future__ import annotations

from sqlalchemy.orm import Session

from app.crud.vocab import VocabRow, load_vocab
from app.services.vocab_snapshot import MappedCode, UnmappedCode, VocabSnapshot


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_resolve_and_reasons_before_and_after_a_load(session: Session) -> None:
    clock = _Clock()
    snapshot = VocabSnapshot(5.0, clock=clock)
    view = snapshot.view(session)
    assert view.resolve("atc", "c07ab02") == MappedCode("atc", "C07AB02", ("C07A",))
    assert view.resolve("rxnorm", "866924") == UnmappedCode(
        "rxnorm", "866924", "no_code_map_loaded"
    )
    assert view.resolve("ndc", "12-3").reason == "malformed_code"
    rows = [
        VocabRow("rxnorm", "866924", "C07A"),
        VocabRow("atc", "C07A", "C07A", "Beta blocking agents"),
    ]
    load_vocab(session=session, rows=rows, source_version="t", replace=False)
    assert snapshot.view(session) is view  # within the bound: the old copy
    clock.now = 5.0
    fresh = snapshot.view(session)
    assert fresh.resolve("rxnorm", "866924") == MappedCode("rxnorm", "866924", ("C07A",))
    assert fresh.resolve("rxnorm", "1").reason == "no_atc_mapping"  # type: ignore[union-attr]
    assert fresh.display("C07A") == "Beta blocking agents" and fresh.display("B01A") is None


def test_a_reload_replaces_a_codes_classes(session: Session) -> None:
    load_vocab(session=session, rows=[VocabRow("ndc", "00000000001", "A02B")],
               source_version="1", replace=False)  # fmt: skip
    load_vocab(session=session, rows=[VocabRow("ndc", "00000000001", "B01A")],
               source_version="2", replace=False)  # fmt: skip
    view = VocabSnapshot(0).view(session)
    assert view.resolve("ndc", "00000000001") == MappedCode("ndc", "00000000001", ("B01A",))
