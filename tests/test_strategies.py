"""The shared strategies really draw the edge cases they promise."""

from __future__ import annotations

import numpy as np
from hypothesis import find, given

from reference import strategies as rs


def test_ragged_batches_reach_the_edge_cases():
    assert find(rs.ragged_batches(), lambda b: len(b) == 0) == []
    zero = find(rs.ragged_batches(), lambda b: any(len(s) == 0 for s in b) and len(b) > 1)
    assert any(len(s) == 0 for s in zero)
    vec = find(rs.ragged_batches(), lambda b: any(s.ndim > 1 for s in b))
    assert vec[0].ndim > 1
    for kind in "biuf":
        find(rs.ragged_batches(), lambda b, k=kind: bool(b) and b[0].dtype.kind == k)


def test_padded_batches_plant_poison_under_the_mask():
    x, mask = find(rs.padded_batches("float32"), lambda b: b[0].size > 0 and not b[1].all())
    assert not np.isfinite(x[~mask]).any()


def test_masks_have_holes_and_empty_rows():
    holes = find(rs.masks((1, 3), layout="holes"), lambda m: m.tolist() == [[True, False, True]])
    assert holes.dtype == np.bool_
    find(rs.masks((2, 3)), lambda m: not m[0].any() and m[1].any())


@given(rs.masks((3, 5), layout="pre"))
def test_pre_masks_are_valid_suffixes(mask):
    for row in mask:
        n = int(row.sum())
        assert row[5 - n :].all() and not row[: 5 - n].any()


@given(rs.token_ids(pad_id=0))
def test_token_ids_are_in_range(ids):
    assert ids.dtype == np.int64
    assert ((ids >= 0) & (ids < 6)).all()
