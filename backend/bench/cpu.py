"""`promptface-backend bench`. Prints; never asserts.

- cpu: per-stage times of the CPU engine (medians), plus the warp step against scikit-image's
       PiecewiseAffineTransform as a baseline measured in the same run, and the cold start to the first expression
       of a free-text prompt against a grammar-only one's (each in a fresh process)
- job: one whole job in this process (calibration + the prompts' expressions, the set written to disk), the
       baseline of `promptface bench transports`, which runs the same job over HTTP and SSH
"""
import json
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from backend.subject.calibration import calibrate
from backend.subject.photo_io import decode_photo
from backend.engines import Engines
from backend.pipeline import (PipelineOptions, prepare_subject, check_inputs, edit_photos, finish_expression,
                              generate_expressions)
from backend.geometry.piecewise_warp import border_anchors, warp_piecewise_affine

BENCH_PROMPTS = ("happy", "a delighted surprise", "70% happy + 30% surprised")
# No free text: the sentence model stays unloaded, so the job measures the pipeline and not a model load.
JOB_PROMPTS = ("happy", "AU1:0.8 AU2:0.8 AU26:0.6", "70% happy + 30% surprised")
# Cold start → first expression: the grammar-only prompt is the baseline; free text also loads the sentence model.
COLD_START_PROMPTS = (("grammar only", "happy"), ("free text", "a delighted surprise"))
CALIBRATION_TARGET_S = 3.0
EXPRESSION_TARGET_S = 1.5


def bench_cpu(photo_bytes: bytes, photo_name: str, runs: int = 5) -> None:
    print(f"PromptFace CPU benchmark: {photo_name}, median of {runs} runs")
    engines = Engines.load()
    engines.text_model()
    for model, seconds in engines.load_seconds.items():
        print(f"  load {model:<28} {seconds:8.3f} s (once per process)")

    calibration_times = []
    for _ in range(runs):
        start = time.perf_counter()
        photo = decode_photo(photo_bytes, source=photo_name)
        subject = calibrate(photo, photo_name, photo_bytes, engines.finder, engines.detector)
        calibration_times.append(time.perf_counter() - start)
    calibration = statistics.median(calibration_times)
    print(f"  calibration                      {calibration:8.3f} s   target {CALIBRATION_TARGET_S} s "
          f"({calibration / CALIBRATION_TARGET_S:.2f} of target)")

    prepared = prepare_subject(photo_bytes, photo_name, engines)
    for prompt in BENCH_PROMPTS:
        stage_times: dict[str, list[float]] = {}
        for _ in range(runs):
            edited = edit_photos(prepared.subject, [("bench", prompt)], engines.editor_for("warp"), engines)[0]
            result = finish_expression(prepared, edited, engines, PipelineOptions())
            for stage, seconds in result.data.timings.items():
                stage_times.setdefault(stage, []).append(seconds)
        medians = {stage: statistics.median(times) for stage, times in stage_times.items()}
        total = sum(medians.values())
        stages = "  ".join(f"{stage} {seconds * 1000:.0f}" for stage, seconds in medians.items())
        print(f"  expression {prompt!r:<27} {total:8.3f} s   target {EXPRESSION_TARGET_S} s "
              f"({total / EXPRESSION_TARGET_S:.2f} of target)   ms: {stages}")

    _bench_warp_against_skimage(subject, engines, runs)
    _bench_cold_start(photo_bytes, photo_name)


def _record_since(start: float, finished: list[float], *_) -> None:
    finished.append(time.perf_counter() - start)


def _bench_warp_against_skimage(subject, engines, runs: int) -> None:
    from skimage.transform import PiecewiseAffineTransform, warp

    size = subject.crop.shape[0]
    anchors = border_anchors(size, size)
    moved = subject.crop_to_mesh.to_pixels(
        subject.crop_to_mesh.to_metres(subject.landmarks_px) + subject.action_units.displacement({"AU12": 1.0})
    )[:, :2]
    source = np.concatenate([subject.landmarks_px[:, :2], anchors])
    target = np.concatenate([moved, anchors])

    def ours():
        warp_piecewise_affine(subject.crop, source, target, (size, size))

    def baseline():
        # output → input mapping, as skimage's warp expects
        transform = PiecewiseAffineTransform.from_estimate(target, source)
        warp(subject.crop, transform, output_shape=(size, size), preserve_range=True)

    ours_s = _median_time(ours, runs)
    baseline_s = _median_time(baseline, max(1, min(runs, 3)))
    print(f"  warp 512² (ours, dense remap)    {ours_s:8.3f} s")
    print(f"  warp 512² (skimage baseline)     {baseline_s:8.3f} s   ours is {baseline_s / ours_s:.1f}x faster")


def _bench_cold_start(photo_bytes: bytes, photo_name: str) -> None:
    print("  cold start → first expression (a fresh process: imports, Engines.load, calibration, one expression)")
    with tempfile.TemporaryDirectory(prefix="promptface-bench-cold-") as folder:
        photo = Path(folder) / ("photo" + Path(photo_name).suffix)
        photo.write_bytes(photo_bytes)
        results = [(label, prompt, _cold_start_in_fresh_process(photo, prompt, Path(folder) / f"set-{index}"))
                   for index, (label, prompt) in enumerate(COLD_START_PROMPTS)]
    baseline = results[0][2]["first_expression_s"]
    for label, prompt, numbers in results:
        seconds, text_model = numbers["first_expression_s"], numbers["load_s"].get("text_model")
        loaded = f"sentence model loaded in {text_model:.3f} s" if text_model else "sentence model not loaded"
        print(f"    {label:<13} {prompt!r:<22} {seconds:8.3f} s   {seconds / baseline:.2f}x the grammar-only start "
              f"({loaded})")


# Runs in the fresh process; the clock starts before the backend is imported.
_COLD_START_SCRIPT = """
import json, sys, time
start = time.perf_counter()
from backend.bench.cpu import cold_start
print(json.dumps(cold_start(start, *sys.argv[1:])))
"""


def _cold_start_in_fresh_process(photo: Path, prompt: str, out_dir: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", _COLD_START_SCRIPT, str(photo), prompt, str(out_dir)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the cold-start run of {prompt!r} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def cold_start(start: float, photo: str, prompt: str, out_dir: str) -> dict:
    """Engines.load, calibration and one prompt's expression; seconds from start until it is in the set."""
    engines = Engines.load()
    first = []
    prepared = prepare_subject(Path(photo).read_bytes(), Path(photo).name, engines)
    generate_expressions(prepared, [prompt], out_dir, engines,
                         on_expression=lambda *_: first.append(time.perf_counter()))
    return {"first_expression_s": first[0] - start, "load_s": engines.load_seconds}


def _median_time(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class JobBenchmark:
    """One job (prepare_subject + generate_expressions) in this process; seconds, medians over `runs` after one
    warm-up run that is not counted."""
    photo: str
    prompts: list[str]
    runs: int
    load_s: dict[str, float]
    """Engines.load (and the sentence model, if a prompt needed it), once per process."""
    warmup_s: float
    job_s: float
    """The whole job: the photo decoded and prepared, every expression made, the set written."""
    first_expression_s: float
    """From the start of the job until the first expression was in the (partial) set on disk."""
    job_runs_s: list[float]


def bench_job(photo_bytes: bytes, photo_name: str, prompts=JOB_PROMPTS, runs: int = 3) -> JobBenchmark:
    prompts = list(prompts)
    check_inputs(prompts, PipelineOptions())
    if runs < 1:
        raise ValueError(f"runs must be at least 1, not {runs}")
    engines = Engines.load()
    totals, firsts = [], []
    with tempfile.TemporaryDirectory(prefix="promptface-bench-job-") as folder:
        for run in range(runs + 1):  # run 0 warms up
            start = time.perf_counter()
            finished = []  # seconds from the start to each expression
            prepared = prepare_subject(photo_bytes, photo_name, engines)
            generate_expressions(prepared, prompts, Path(folder) / f"set-{run}", engines,
                                 on_expression=partial(_record_since, start, finished))
            totals.append(time.perf_counter() - start)
            firsts.append(finished[0])
    return JobBenchmark(photo=photo_name, prompts=prompts, runs=runs, load_s=dict(engines.load_seconds),
                        warmup_s=totals[0], job_s=statistics.median(totals[1:]),
                        first_expression_s=statistics.median(firsts[1:]), job_runs_s=totals[1:])


def print_job_benchmark(result: JobBenchmark, as_json: bool) -> None:
    if as_json:
        print(json.dumps(asdict(result)))
        return
    print(f"PromptFace job in this process: {result.photo}, {len(result.prompts)} prompts, median of {result.runs} "
          f"runs after one warm-up")
    for model, seconds in result.load_s.items():
        print(f"  load {model:<24} {seconds:8.3f} s (once per process)")
    print(f"  warm-up job                   {result.warmup_s:8.3f} s")
    print(f"  job                           {result.job_s:8.3f} s   ({', '.join(map(repr, result.prompts))})")
    print(f"  first expression ready        {result.first_expression_s:8.3f} s")
