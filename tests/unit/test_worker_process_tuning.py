"""Unit (no database): what the worker process does to spend less CPU per message reads
every JSON value as json.loads does, and leaves the garbage collector as it found it."""

from __future__ import annotations

import gc
import json

import pytest

from worker.json_columns import loads
from worker.runner import GC_YOUNG_THRESHOLD, GarbageCollectorSettled


@pytest.mark.parametrize(
    "text",
    [
        b'{"from":"250788123456","id":"wamid.x","type":"text","text":{"body":"hi \\u00e9"}}',
        b"[]",
        b"{}",
        b"null",
        b'{"a":1,"a":2}',
        b"0.1",
        b"1e-400",
        b"5e-324",
        b"2.5E+3",
        b"9223372036854775807",
        b"-9223372036854775808",
        # orjson would read these as floats (beyond 64 bits): json.loads reads them
        b"18446744073709551616",
        b'{"n":123456789012345678901234567890}',
        b"-9223372036854775809",
        # orjson refuses these: json.loads reads them
        b"1e400",
        b'"\\ud800"',
        b'{"wamid":"wamid.1234567890123456789012"}',  # a long digit run in a text
    ],
)
def test_json_columns_read_as_json_loads_reads_them(text: bytes) -> None:
    expected = json.loads(text)
    got = loads(text)
    assert got == expected
    assert type(got) is type(expected)
    assert json.dumps(got) == json.dumps(expected)  # same int/float kinds inside too


def test_json_columns_refuse_what_json_loads_refuses() -> None:
    with pytest.raises(ValueError):
        loads(b"{not json")


def test_the_collector_is_settled_while_workers_run_and_restored_after() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    try:
        GarbageCollectorSettled.enter()
        GarbageCollectorSettled.enter()  # a second worker in the same process
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > frozen_before
        GarbageCollectorSettled.leave()
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD  # one still runs
    finally:
        GarbageCollectorSettled.leave()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_in_flight_gauge_reads_the_handlers_count_when_scraped() -> None:
    from worker.metrics import WorkerMetrics

    metrics = WorkerMetrics()
    assert metrics.registry.get_sample_value("wapipe_worker_in_flight") == 0
    metrics.handling += 3
    assert metrics.registry.get_sample_value("wapipe_worker_in_flight") == 3
