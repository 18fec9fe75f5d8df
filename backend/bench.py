"""`promptface-backend bench cpu`: per-stage times of the CPU engine (medians), plus the warp step against
scikit-image's PiecewiseAffineTransform as a baseline measured in the same run. Prints; never asserts."""
import statistics
import time

import numpy as np

from backend.calibration import calibrate
from backend.mouth_interior import paint_mouth_patch
from backend.photo_io import decode_photo
from backend.pipeline import Engines, PipelineOptions, _expression
from backend.piecewise_warp import border_anchors, warp_piecewise_affine

BENCH_PROMPTS = ("happy", "a delighted surprise", "70% happy + 30% surprised")
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

    base_texture = paint_mouth_patch(subject.crop, subject.mouth_patch)
    neutral_embedding = engines.embedder.embed(subject.crop)
    for prompt in BENCH_PROMPTS:
        stage_times: dict[str, list[float]] = {}
        for _ in range(runs):
            result = _expression(subject, base_texture, "bench", prompt, engines, neutral_embedding,
                                 PipelineOptions())
            for stage, seconds in result.data.timings.items():
                stage_times.setdefault(stage, []).append(seconds)
        medians = {stage: statistics.median(times) for stage, times in stage_times.items()}
        total = sum(medians.values())
        stages = "  ".join(f"{stage} {seconds * 1000:.0f}" for stage, seconds in medians.items())
        print(f"  expression {prompt!r:<27} {total:8.3f} s   target {EXPRESSION_TARGET_S} s "
              f"({total / EXPRESSION_TARGET_S:.2f} of target)   ms: {stages}")

    _bench_warp_against_skimage(subject, engines, runs)


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


def _median_time(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
