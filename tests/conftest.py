"""Shared test setup: oneDNN pinned to AVX2 before MindSpore loads, fixed seeds, repo root on sys.path."""
import os
import sys

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
