"""The bench's figures of timed runs (bench/support.py), on literal runs."""
import pytest

from bench.support import BenchError, per_cpu_second, summarize_runs

RUNS = [{"seconds": 0.0091, "cpu_s": 0.0042, "peak_rss_mb": 9.96},
        {"seconds": 0.0102, "cpu_s": 0.0047, "peak_rss_mb": 10.1},
        {"seconds": 0.0088, "cpu_s": 0.0039, "peak_rss_mb": 9.9}]


def test_a_decode_of_a_few_milliseconds_keeps_its_cpu_time():
    # the smoke run's 2,000-response capture: dnsdecode's 4 ms of CPU were rounded to 0.00
    assert summarize_runs(RUNS) == {"seconds": 0.009, "runs": [0.009, 0.009, 0.01],
                                    "cpu_s": 0.0042, "cores": 0.46, "peak_rss_mb": 10.1}


def test_a_rate_per_cpu_second():
    assert per_cpu_second(4380, 0.0042, "dnsdecode") == pytest.approx(1_042_857.14, abs=0.01)


def test_no_measurable_cpu_time_is_a_bench_error_that_says_so():
    with pytest.raises(BenchError, match=r"^dnsdecode used no measurable CPU time: too small "
                                         r"an input to rate per CPU second$"):
        per_cpu_second(4380, 0.0, "dnsdecode")
