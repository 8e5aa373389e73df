"""MiDaS v2.1 monocular depth estimation in MindSpore.

Importing the package pins oneDNN to AVX2 before MindSpore is loaded: on AVX-512 CPUs
MindSpore otherwise runs every k>1 convolution on oneDNN's reference kernel (~200x slower).
"""
import os

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
