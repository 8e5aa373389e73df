"""Shared test setup: oneDNN pinned to AVX2 before MindSpore loads, repo root on sys.path, the tools' CPU context,
the PyNative fixture, the collector freeze after collection."""
import gc
import os
import sys

import pytest

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def pytest_configure():
    """Every test process runs on the tools' CPU context (src/device.py), set before any operator runs."""
    from src.device import set_context  # pylint: disable=import-outside-toplevel  (after ONEDNN_MAX_CPU_ISA is set)
    set_context("CPU")


def pytest_collection_finish():
    """Freeze what collection imported (torch, MindSpore, the test modules) out of the cyclic garbage collector:
    its full collections rescanned those objects on every pass, 10.3 s of a 204 s run of test_dpt_parity and
    test_export (2.2 s frozen). Objects made by the tests are collected as before."""
    gc.collect()
    gc.freeze()


@pytest.fixture(name="pynative")
def fixture_pynative():
    """Run the test in PyNative mode (layer-by-layer calls: GRAPH would compile every sub-cell separately)."""
    import mindspore as ms  # pylint: disable=import-outside-toplevel  (after ONEDNN_MAX_CPU_ISA is set)
    ms.set_context(mode=ms.PYNATIVE_MODE)
    yield
    ms.set_context(mode=ms.GRAPH_MODE)


def pytest_collection_modifyitems(items):
    """Modules with the most ``slow`` tests first (each module kept whole, in its own order), so that the xdist
    workers end on short tests instead of one of them finishing a long test alone (with ``--dist loadscope``
    whole modules go to the workers in this order only with ``--no-loadscope-reorder``)."""
    slow_count = {}
    for item in items:
        slow_count[item.module.__name__] = slow_count.get(item.module.__name__, 0) + bool(item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow_count[item.module.__name__])
