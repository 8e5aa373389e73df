"""Shared timing helpers of the benchmark scripts."""
import statistics
import time


def run_times_ms(forward, batch, repeats, warmup):
    """Wall time of each of ``repeats`` calls ``forward(batch)`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        forward(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward(batch)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def median_latency_ms(forward, batch, repeats, warmup):
    """Median wall time of ``forward(batch)`` in milliseconds after ``warmup`` untimed calls."""
    return statistics.median(run_times_ms(forward, batch, repeats, warmup))
