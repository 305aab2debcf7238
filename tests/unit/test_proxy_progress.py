"""The proxy job's position for monitoring (pipelines/proxy/progress.py) on literal inputs:
what a streaming query reports after a batch, and what a checkpoint holds."""
from __future__ import annotations

from pyspark.sql.streaming.listener import StreamingQueryProgress

from pipelines.proxy.progress import checkpoint_offsets, end_offsets

PROGRESS = {
    "id": "13ed713a-bfbf-4365-a029-d18649b7e619", "runId": "0d1b5d5e-1f5c-4b7a-9f65-0aa1e2b3c4d5",
    "name": "proxy-p", "timestamp": "2016-01-04T09:00:00.000Z", "batchId": 7,
    "batchDuration": 1200, "stateOperators": [], "sink": {"description": "ForeachBatchSink",
                                                          "numOutputRows": -1},
    "sources": [{"description": "KafkaV1[Subscribe[T]]", "startOffset": {"T": {"0": 3, "1": 4}},
                 "endOffset": {"T": {"1": 9, "0": 21}}, "latestOffset": {"T": {"0": 21}},
                 "numInputRows": 12, "inputRowsPerSecond": 1.0, "processedRowsPerSecond": 2.0}],
}


def test_end_offsets_of_a_finished_batch():
    assert end_offsets(PROGRESS, "T") == {0: 21, 1: 9}
    # pyspark's own object holds the offsets as their Python repr: read through its JSON
    assert end_offsets(StreamingQueryProgress.fromJson(PROGRESS), "T") == {0: 21, 1: 9}
    assert end_offsets(PROGRESS, "other") is None and end_offsets(None, "T") is None
    assert end_offsets({"sources": [{"endOffset": '{"T": {"2": 5}}'}]}, "T") == {2: 5}


def test_offsets_a_checkpoint_holds():
    text = 'v1\n{"batchWatermarkMs":0,"batchTimestampMs":1,"conf":{}}\n{"T":{"1":12,"0":13}}'
    assert checkpoint_offsets(text, "T") == {0: 13, 1: 12}
    assert checkpoint_offsets(text, "U") is None
    assert checkpoint_offsets(None, "T") is None and checkpoint_offsets("v1\n{", "T") is None
