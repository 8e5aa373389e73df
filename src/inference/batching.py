"""Prefetched, batched inference: images are read and preprocessed by background threads and consecutive
images whose network input has the same size run as one batch (:func:`prepared_batches`, also used by
evaluation); in folder inference (:func:`run_pipeline`) outputs are written by a background writer
(atomically, as :func:`src.fileio.images.write_depth` does). Failures are reported in image order.

OpenCV releases the GIL while decoding, resizing and encoding, so the threads overlap with the network.
"""
import collections
import concurrent.futures
import dataclasses

from tqdm import tqdm

PREFETCH_WORKERS = 2


@dataclasses.dataclass
class Prepared:
    """One item read and preprocessed: its index, what the caller keeps of it (the RGB image in folder
    inference, the sample or ground truth in evaluation) and the network input [1, 3, h, w]."""

    index: int
    data: object
    net_input: object


def _prefetched(prepare, items, workers, look_ahead):
    """Yield (index, future of prepare(item)) in order, keeping at most ``look_ahead`` reads in flight."""
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="midas-read") as pool:
        pending = collections.deque()
        try:
            for index, item in enumerate(items):
                pending.append((index, pool.submit(prepare, item)))
                if len(pending) >= look_ahead:
                    yield pending.popleft()
            while pending:
                yield pending.popleft()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _batches(prefetched, batch_size, on_failure):
    """Group consecutive successfully prepared images with the same network input shape into lists of at most
    ``batch_size``; a failed read is passed to ``on_failure(index, exception)`` after the batch before it."""
    batch = []
    for index, future in prefetched:
        try:
            prepared = future.result()
        except Exception as err:  # pylint: disable=broad-except  # reported by the caller's handler
            if batch:
                yield batch
                batch = []
            on_failure(index, err)
            continue
        if batch and (len(batch) == batch_size or batch[0].net_input.shape != prepared.net_input.shape):
            yield batch
            batch = []
        batch.append(prepared)
    if batch:
        yield batch


class OrderedReports:
    """Results of the background writes, reported in image order as they complete."""

    def __init__(self, report):
        self.report = report  # report(index, exception or None)
        self.pending = collections.deque()

    def add(self, index, future):
        self.pending.append((index, future))
        self.drain(wait=False)

    def drain(self, wait):
        while self.pending and (wait or self.pending[0][1].done()):
            index, future = self.pending.popleft()
            self.report(index, future.exception())


def _failed(err):
    future = concurrent.futures.Future()
    future.set_exception(err)
    return future


def prepared_batches(items, prepare, batch_size, on_failure):
    """Yield, in order, lists of ``prepare(item) -> Prepared`` run ahead by background threads: consecutive items
    with the same network input shape, at most ``batch_size`` per list; a failed ``prepare`` is passed to
    ``on_failure(index, exception)`` in its place. Closing the generator stops the reads."""
    prefetched = _prefetched(prepare, items, PREFETCH_WORKERS, max(2 * batch_size, PREFETCH_WORKERS + 1))
    try:
        yield from _batches(prefetched, batch_size, on_failure)
    finally:
        prefetched.close()


def run_pipeline(items, prepare, predict_batch, write, report, batch_size=1):
    """Run ``items`` through ``prepare(item) -> Prepared``, ``predict_batch([Prepared]) -> [output]`` and
    ``write(index, Prepared, output)``; ``report(index, exception or None)`` is called once per item, in
    order. Exceptions of ``prepare`` and ``write`` are reported; anything else (and Ctrl-C) propagates after
    the writes already started have finished, so no output is left half-written."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="midas-write") as writer, \
            tqdm(total=len(items), desc="depth", unit="img") as progress:
        reports = OrderedReports(report)

        def read_failed(index, err):
            reports.add(index, _failed(err))
            progress.update(1)

        batches = prepared_batches(items, prepare, batch_size, read_failed)
        try:
            for batch in batches:
                for prepared, output in zip(batch, predict_batch(batch)):
                    reports.add(prepared.index, writer.submit(write, prepared.index, prepared, output))
                progress.update(len(batch))
            reports.drain(wait=True)
        finally:
            batches.close()
            writer.shutdown(wait=True, cancel_futures=True)
