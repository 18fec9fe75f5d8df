"""`promptface-backend bench diffedit`: DiffEdit speed on the real SD 2.1-base architecture with random weights.

Speed does not depend on the weights' values, so no model download is needed. Per-expression latency and throughput
for each steps × batch size, without the inversion cache (a new subject) and with it (more prompts for a subject
already inverted); the first configuration is the baseline every ratio refers to. Prints; never asserts.
"""
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from backend.editors.diffedit import DiffEditEditor
from backend.editors.diffedit_settings import DiffEditSettings
from backend.bench.random_diffusion import build_sd21_base_parts

PROMPTS = ("happy", "surprised", "angry", "sad")
THESIS_NOTE = "thesis: about 2 s per expression on two V100s (its own figure, other hardware)"
TARGET_S = 0.5  # per expression on one H100, batch 4, 25 steps


@dataclass(frozen=True)
class DiffEditTiming:
    steps: int
    batch: int
    cached: bool
    seconds_per_expression: float

    @property
    def expressions_per_second(self) -> float:
        return 1.0 / self.seconds_per_expression


def bench_diffedit(photo: np.ndarray, device: str, dtype: str, resolution: int, steps: list[int],
                   batches: list[int], runs: int) -> list[DiffEditTiming]:
    """Time every steps × batch × (uncached, cached) configuration; photo is (H,W,3) uint8."""
    # 1. Build the architecture once (random weights) and the photo at the working resolution.
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        parts = build_sd21_base_parts(Path(folder) / "tokenizer")
    print(f"  built SD 2.1-base with random weights in {time.perf_counter() - start:.1f} s "
          f"(UNet {_millions(parts['unet'])} M, VAE {_millions(parts['vae'])} M, "
          f"text encoder {_millions(parts['text_encoder'])} M parameters)")
    image = cv2.resize(photo, (resolution, resolution), interpolation=cv2.INTER_AREA)
    base = DiffEditSettings(model="random SD 2.1-base", resolution=resolution, device=device, dtype=dtype,
                            batch_size=max(batches))
    editor = DiffEditEditor(**parts, settings=base)
    print(f"  device {editor.device}, dtype {str(editor.dtype).removeprefix('torch.')}, {resolution}² px, "
          f"median of {runs} run(s)")
    _edit(editor, image, PROMPTS[:1])  # warm-up: kernels, allocator
    # 2. Each configuration: a cold inversion (cache cleared), then the same prompts on the cached inversion.
    timings = []
    for step_count in steps:
        editor = DiffEditEditor(editor.unet, editor.vae, editor.text_encoder, editor.tokenizer,
                                editor.scheduler.config, replace(base, steps=step_count))
        for batch in batches:
            prompts = [PROMPTS[i % len(PROMPTS)] for i in range(batch)]
            cold, warm = [], []
            for _ in range(runs):
                editor.cache.entries.clear()
                cold.append(_edit(editor, image, prompts) / batch)
                warm.append(_edit(editor, image, prompts) / batch)
            for cached, seconds in ((False, cold), (True, warm)):
                timings.append(DiffEditTiming(step_count, batch, cached, statistics.median(seconds)))
                _print_row(timings[-1], timings[0])
    return timings


def _edit(editor: DiffEditEditor, image: np.ndarray, prompts: list[str]) -> float:
    if editor.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    editor.edit(image, prompts)
    if editor.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _print_row(timing: DiffEditTiming, baseline: DiffEditTiming) -> None:
    cache = "cached  " if timing.cached else "uncached"
    print(f"  steps {timing.steps:3d}  batch {timing.batch}  {cache}  {timing.seconds_per_expression:8.3f} s/expression"
          f"  {timing.expressions_per_second:7.3f} expressions/s  "
          f"{baseline.seconds_per_expression / timing.seconds_per_expression:5.2f}x the first row")


def print_targets(timings: list[DiffEditTiming], device: str) -> None:
    print(f"  {THESIS_NOTE}")
    target = [t for t in timings if t.steps == 25 and t.batch == 4 and t.cached]
    if target:
        print(f"  target on one H100: ≤ {TARGET_S} s per expression (batch 4, 25 steps, cached); this run "
              f"({device}): {target[0].seconds_per_expression:.3f} s")


def _millions(module: torch.nn.Module) -> int:
    return round(sum(p.numel() for p in module.parameters()) / 1e6)
