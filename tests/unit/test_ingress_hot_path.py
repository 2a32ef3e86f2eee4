"""Unit (no database): the pieces of POST /webhook written for cost, each equal to what
it replaced: the 200's JSON, the correlation ids, the garbage collector's settling."""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator

import pytest
from starlette.responses import JSONResponse

from ingress.app import (
    GC_YOUNG_THRESHOLD,
    new_correlation_id,
    settle_garbage_collector,
    stored_response,
)
from ingress.store import IngestResult
from wapipe.log import mask_phone


@pytest.mark.parametrize(
    "result",
    [IngestResult(1, 1, 0, 0, 0), IngestResult(9_007_199_254_740_993, 1000, 999, 12, 3, 16)],
)
def test_the_stored_answer_is_the_json_response_it_replaced(result: IngestResult) -> None:
    counts = {
        "status": "stored",
        "event_id": result.event_id,
        "new_messages": result.new_messages,
        "duplicates": result.duplicates,
        "statuses": result.statuses,
        "errors": result.errors,
    }
    expected = JSONResponse(counts)
    answer = stored_response(result)
    assert answer.body == expected.body
    assert json.loads(bytes(answer.body)) == counts
    assert answer.status_code == 200
    assert answer.headers.items() == expected.headers.items()


def test_new_correlation_ids_are_32_hex_digits_and_distinct() -> None:
    ids = [new_correlation_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", cid) for cid in ids)
    assert len(set(ids)) == len(ids)


def test_new_correlation_ids_go_through_the_log_masker_unchanged() -> None:
    # uuid4().hex fails this about one time in eleven (a run of 10-15 decimal digits)
    ids = [new_correlation_id() for _ in range(10_000)]
    assert [cid for cid in ids if mask_phone(cid) != cid] == []


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_settling_the_collector_freezes_what_exists_and_spaces_young_collections() -> None:
    gc.unfreeze()
    kept = [object(), {}]
    settle_garbage_collector()
    assert gc.get_freeze_count() > len(kept)
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
