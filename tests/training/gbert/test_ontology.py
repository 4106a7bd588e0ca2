import numpy as np
import pytest

from training.data.records import Code
from training.gbert.ontology import (
    atc_path,
    build_hierarchy,
    code_path,
    diagnosis_hierarchy,
    medication_hierarchy,
)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (Code("icd9cm", "0389"), ["icd9cm:ch:001-139", "icd9cm:cat:038"]),
        (Code("icd9cm", "V4581"), ["icd9cm:ch:V01-V91", "icd9cm:cat:V45"]),
        (Code("icd9cm", "E8782"), ["icd9cm:ch:E000-E999", "icd9cm:cat:E878"]),
        (Code("icd9cm", "042"), ["icd9cm:ch:001-139", "icd9cm:cat:042"]),
        (Code("icd10cm", "O9A11"), ["icd10cm:ch:O00-O9A", "icd10cm:cat:O9A"]),
        (Code("icd10cm", "S7200"), ["icd10cm:ch:S00-T88", "icd10cm:cat:S72"]),
        (Code("icd9proc", "3893"), ["icd9proc:cat:38"]),
    ],
)
def test_code_paths(code, expected):
    path = code_path(code)
    assert path[0] == code.system and path[-1] == f"{code.system}:{code.code}"
    assert path[1:-1] == expected


def test_category_code_and_leaf_are_distinct_nodes():
    h = diagnosis_hierarchy([Code("icd9cm", "042"), Code("icd9cm", "0420")])
    assert "icd9cm:cat:042" in h.nodes and "icd9cm:042" in h.nodes
    assert len(set(h.leaf_index.tolist())) == 2


def test_atc_is_positional():
    assert atc_path("C07A") == ["atc", "atc:C", "atc:C07", "atc:C07A"]


def test_edges_go_up_then_down():
    h = medication_hierarchy(["C07A", "C07B", "N02B"])
    idx = {n: i for i, n in enumerate(h.nodes)}
    up = set(map(tuple, h.up_edges.T.tolist()))
    down = set(map(tuple, h.down_edges.T.tolist()))
    assert (idx["atc:C07A"], idx["atc:C07"]) in up and (idx["atc:C07"], idx["atc:C"]) in up
    assert (idx["atc"], idx["atc:C07A"]) in down and (idx["atc:C07"], idx["atc:C07A"]) in down
    # stage two only feeds leaves; leaves never send in stage one to anything but their parent
    assert {t for _, t in down} == set(h.leaf_index.tolist())
    assert h.up_edges.shape[0] == 2 and h.up_edges.dtype == np.int64
    assert h.leaf_index.tolist() == [idx["atc:C07A"], idx["atc:C07B"], idx["atc:N02B"]]


def test_duplicate_leaf_raises():
    with pytest.raises(ValueError, match="same leaf"):
        build_hierarchy([["r", "a"], ["r", "a"]])


def test_mixed_systems_share_one_root():
    h = diagnosis_hierarchy([Code("icd9cm", "4019"), Code("icd10cm", "I10")])
    assert h.nodes[0] == "dx"


def test_procedure_hierarchy_is_its_own_tree():
    from training.gbert.ontology import procedure_hierarchy

    h = procedure_hierarchy(
        [Code("icd9proc", "3893"), Code("icd9proc", "3895"), Code("icd10pcs", "0DTJ4ZZ")]
    )
    assert h.nodes[0] == "px" and len(h.leaf_index) == 3
    assert "icd9proc:cat:38" in h.nodes and "icd10pcs:sec:0" in h.nodes
    # both 38.xx procedures share their category node
    cat = h.nodes.index("icd9proc:cat:38")
    children = {int(s) for s, t in h.up_edges.T if t == cat}
    assert children == {int(h.leaf_index[0]), int(h.leaf_index[1])}
