"""The metric gate's reading of Prometheus answers, and the bound."""

from __future__ import annotations

import math

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.server.controllers.daemonset.metricgate import (
    MetricReading,
    Sample,
    breach,
    reading_of,
)


def _vector(*values: tuple[dict[str, str], str]) -> Obj:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": m, "value": [1.7e9, v]} for m, v in values],
        },
    }


def test_vector_and_scalar_answers() -> None:
    reading = reading_of(_vector(({"instance": "a"}, "1"), ({"instance": "b"}, "NaN")))
    assert reading.error is None
    assert [s.labels for s in reading.samples] == [{"instance": "a"}, {"instance": "b"}]
    assert reading.samples[0].value == 1
    assert math.isnan(reading.samples[1].value)
    scalar = reading_of({"status": "success", "data": {"resultType": "scalar", "result": [1, "4"]}})
    assert scalar.samples == (Sample(labels={}, value=4.0),)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"status": "error", "errorType": "bad_data", "error": "parse error"}, "bad_data"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "not matrix"),
        ({"status": "success", "data": {"resultType": "scalar", "result": "x"}}, "without a"),
    ],
)
def test_failed_or_unusable_answers_are_errors(body: Obj, error: str) -> None:
    reading = reading_of(body)
    assert reading.error is not None
    assert error in reading.error


def test_breach_names_the_samples_above_the_bound() -> None:
    reading = reading_of(_vector(({"instance": "a"}, "1"), ({"instance": "b"}, "5")))
    why = breach(reading, query="up", bound=2)
    assert why == 'metric gate: up = {instance="b"} 5, above the bound 2'
    assert breach(reading, query="up", bound=5) is None
    assert breach(MetricReading(), query="x > 3", bound=0) is None  # empty: holds
    nan = MetricReading(samples=(Sample(labels={}, value=math.nan),))
    assert breach(nan, query="x", bound=1) is not None
