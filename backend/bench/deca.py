"""Benchmark of the `deca` reconstructor at real sizes with random weights (speed does not depend on the weights'
values): a synthetic DECA folder is written to a temporary folder, then one edited photo is reconstructed `runs` times.
The baseline, measured in the same run on the same input, is E_flame alone (one ResNet-50 + head): the ratio says what
the rest of the reconstruction costs on top of DECA's main network. Prints; never asserts.
"""
import statistics
import tempfile
import time
from dataclasses import dataclass

import torch

from backend.deca.crop import deca_crop
from backend.deca.reconstructor import DecaReconstructor, DecaSettings
from backend.bench.synthetic_deca import synthetic_face_photo, write_synthetic_deca_folder


@dataclass
class DecaBenchmark:
    """Seconds; medians over `runs` interleaved runs after one warm-up round that is not counted."""
    device: str
    dtype: str
    runs: int
    load_s: float
    """from_folder: data files, FLAME, checkpoint, UV rasterisation (once per process)."""
    calibrate_s: float
    """The neutral photo, once per subject."""
    e_flame_s: float
    """Baseline: E_flame alone on a 224² crop."""
    encode_s: float
    """E_flame + E_detail."""
    reconstruct_s: float
    """One edited photo: crop, encode, locked FLAME, texture, details."""
    reconstruct_dense_s: float
    """The same with the dense detail mesh."""


def bench_deca(device: str | torch.device = "cpu", dtype: torch.dtype | str = torch.float32,
               runs: int = 5) -> DecaBenchmark:
    """Time the deca reconstructor per image and print a table with ratios against E_flame alone."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, not {runs}")
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    device = torch.device(device)
    neutral, neutral_landmarks = synthetic_face_photo(size=512, mouth_open=0.0)
    edited, edited_landmarks = synthetic_face_photo(size=512, mouth_open=1.0)
    with tempfile.TemporaryDirectory(prefix="promptface-bench-deca-") as folder:
        write_synthetic_deca_folder(folder)
        start = time.perf_counter()
        reconstructor = DecaReconstructor.from_folder(folder, device=device, dtype=dtype)
        load_s = time.perf_counter() - start
        dense_reconstructor = DecaReconstructor(reconstructor.assets, reconstructor.networks,
                                                DecaSettings(dense_mesh=True), device=device, dtype=dtype)
    identity = reconstructor.encode_identity(neutral, neutral_landmarks)
    crop = deca_crop(edited, edited_landmarks)
    images = torch.as_tensor(crop.image).permute(2, 0, 1)[None].to(device=device, dtype=dtype)

    def e_flame():
        with torch.inference_mode():
            reconstructor.networks["E_flame"](images)

    measured = _median_times({
        "calibrate": lambda: reconstructor.encode_identity(neutral, neutral_landmarks),
        "e_flame": e_flame,
        "encode": lambda: reconstructor.encode(crop.image),
        "reconstruct": lambda: reconstructor.reconstruct(identity, edited, edited_landmarks),
        "reconstruct_dense": lambda: dense_reconstructor.reconstruct(identity, edited, edited_landmarks),
    }, runs, device)
    result = DecaBenchmark(device=str(device), dtype=str(dtype).replace("torch.", ""), runs=runs, load_s=load_s,
                           calibrate_s=measured["calibrate"], e_flame_s=measured["e_flame"],
                           encode_s=measured["encode"], reconstruct_s=measured["reconstruct"],
                           reconstruct_dense_s=measured["reconstruct_dense"])
    print_deca_benchmark(result)
    return result


THESIS_NOTE = "thesis: under 2 s per image on a V100 (its own figure, other hardware)"
TARGETS_S = {"cuda": 0.020, "cpu": 1.0}  # per image: one H100; 2 CPU cores


def print_deca_benchmark(result: DecaBenchmark) -> None:
    base = result.e_flame_s
    print(f"PromptFace deca reconstructor: {result.device}, {result.dtype}, random weights at real sizes, median of "
          f"{result.runs} interleaved runs after one warm-up")
    print(f"  load (from_folder)              {result.load_s:8.3f} s (once per process)")
    for label, seconds in (("E_flame alone (baseline)", result.e_flame_s),
                           ("encode (E_flame + E_detail)", result.encode_s),
                           ("calibrate (neutral photo)", result.calibrate_s),
                           ("reconstruct (per edited photo)", result.reconstruct_s),
                           ("reconstruct + dense mesh", result.reconstruct_dense_s)):
        print(f"  {label:<31} {seconds * 1000:8.1f} ms   {seconds / base:5.2f}x baseline")
    target = TARGETS_S[torch.device(result.device).type]
    print(f"  target per image on {'one H100' if target < 1 else '2 CPU cores'}: {target * 1000:.0f} ms; "
          f"this run: {result.reconstruct_s / target:.2f} of it. {THESIS_NOTE}")


def _median_times(functions: dict, runs: int, device: torch.device) -> dict[str, float]:
    """Median seconds per function. Runs interleave (one of each per round), so a busy machine slows all of them
    alike and the ratios stay meaningful; one warm-up round first (allocations, kernel selection)."""
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            _synchronize(device)
            start = time.perf_counter()
            function()
            _synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
