"""`promptface bench rig`: building a face with the ARKit rig's 52 shape keys against the per-prompt face.

Both faces come from one synthetic set (addon.bench.scene.grid_set with a rig): the per-prompt face is built from it
with the rig left out (Basis + a key per prompt), the rigged face with the rig (Basis + 52 keys, the textured
shape in the blend, the poses recorded). Each is the whole build_face: object, keys, material and drivers. The
median of a few builds is printed, and the rigged face's time as a ratio of the per-prompt face's.
"""
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import bpy

from ..scene.build import build_face
from .scene import grid_set

PROMPTS = 4
"""Expressions besides the neutral in the synthetic set: a typical handful of prompts."""


def bench_rig(vertex_counts=(5_000, 60_000), runs: int = 3) -> None:
    print(f"scene build: the ARKit rig (52 shape keys) against a shape key per prompt ({PROMPTS} prompts), "
          f"median of {runs}")
    for count in vertex_counts:
        with tempfile.TemporaryDirectory() as folder:
            rigged_set = grid_set(Path(folder) / "set", count, PROMPTS, rig=True)
            per_prompt_set = dataclasses.replace(rigged_set, rig=None)
            per_prompt = _median_build_seconds(per_prompt_set, runs)
            rigged = _median_build_seconds(rigged_set, runs)
        print(f"  {count:>6} vertices: per-prompt {per_prompt:7.3f} s, ARKit rig {rigged:7.3f} s "
              f"-> the rig takes {rigged / per_prompt:.1f}x as long")


def _median_build_seconds(expression_set, runs: int) -> float:
    seconds = []
    for _ in range(runs):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        start = time.perf_counter()
        build_face(expression_set)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)
