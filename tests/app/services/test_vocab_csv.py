from __future__ import annotations

from pathlib import Path

import pytest

from app.crud.vocab import VocabRow
from app.errors import VocabFileError
from app.services.vocab_csv import parse_vocab_csv


def test_long_layout_with_displays_and_combinations() -> None:
    text = (
        "system,code,atc,display\n"
        "rxnorm,866924,C07AB02,metoprolol\n"
        "ndc,0002-3227-30,N02BE01;B01AC06,\n"
        "atc,C07A,C07A,Beta blocking agents\n"
    )
    assert parse_vocab_csv(text) == [
        VocabRow("rxnorm", "866924", "C07A", "metoprolol"),
        VocabRow("ndc", "00002322730", "B01A", None),
        VocabRow("ndc", "00002322730", "N02B", None),
        VocabRow("atc", "C07A", "C07A", "Beta blocking agents"),
    ]


def test_wide_layout_maps_both_key_columns() -> None:
    text = "ndc,atc4,atc5,rxcui,match\n00002202402,A12CA;B05CB,,313009,rxcui\n00000000001,,,,\n"
    rows = parse_vocab_csv(text)
    assert {(r.system, r.code, r.atc3) for r in rows} == {
        ("ndc", "00002202402", "A12C"),
        ("ndc", "00002202402", "B05C"),
        ("rxnorm", "313009", "A12C"),
        ("rxnorm", "313009", "B05C"),
    }


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "row 0"),
        ("a,b\n1,2\n", "row 0"),
        ("system,code,atc\nsnomed,123,C07A\n", "row 1, column 'system'"),
        ("system,code,atc\nndc,12-34,C07A\n", "row 1, column 'code'"),
        ("system,code,atc\nrxnorm,1,NOTATC\n", "row 1, column 'atc'"),
        ("ndc,atc4\n00002202402,A12CA,extra\n", "row 1"),
    ],
)
def test_errors_name_row_and_column_not_the_value(text: str, where: str) -> None:
    with pytest.raises(VocabFileError) as info:
        parse_vocab_csv(text)
    assert info.value.detail.startswith(where)
    assert "NOTATC" not in info.value.detail and "12-34" not in info.value.detail


@pytest.mark.data
def test_reads_the_shared_ndc_to_atc_map(shared_data: Path) -> None:
    rows = parse_vocab_csv((shared_data / "mappings" / "ndc2atc.csv").read_text())
    ndcs = {r.code for r in rows if r.system == "ndc"}
    assert 700 < len(ndcs) <= 995 and all(len(c) == 11 for c in ndcs)
    assert {r.system for r in rows} == {"ndc", "rxnorm"}
