"""`promptface-backend bench expressions`: do the CPU engine's expressions read as what was asked? Prints; never
asserts.

For each neutral photo of a folder (default: the built-in sample) the six basic prompts are generated with the warp
editor and scored: the expression recogniser's top class against the prompt (hits), the prompted class's probability
against the neutral's (rises: by at least MIN_RISE), SFace identity cosine against the photo as taken, and seconds per
expression. A labels file (CSV: file,person,expression — expression one of neutral, happy, sad, surprised, afraid,
angry, disgusted) says which photos are neutral and which show a person's real expression: the prompt's landmark
motion is then compared with that person's real motion (neutral → expression, rigidly aligned on points no expression
moves, face widths): direction correlation and magnitude ratio. Expressive photos are calibrated and their neutralised
neutral scored (does it read neutral?).
"""
import csv
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from addon.core.errors import PromptFaceError
from addon.core.vocabulary import EMOTIONS
from addon.core.expression_set import read_expression_set
from backend.subject.calibration import Subject, calibrate
from backend.subject.photo_io import PHOTO_SUFFIXES, decode_photo
from backend.engines import Engines
from backend.pipeline import PipelineOptions, prepare_subject, generate_expressions
from backend.geometry.rigid_alignment import fit_similarity

BASIC_PROMPTS = ("happy", "sad", "angry", "surprised", "afraid", "disgusted")
# The prompted class "rises" when its probability gains at least this much over the neutral's (not float noise).
MIN_RISE = 0.01


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    person: str
    expression: str


@dataclass
class PromptScores:
    hits: int = 0
    rises: int = 0
    photos: int = 0
    probability_change: list[float] = field(default_factory=list)
    identity: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    correlation: list[float] = field(default_factory=list)
    magnitude_ratio: list[float] = field(default_factory=list)


def read_labels(folder: Path, labels: Path | None) -> list[LabelledPhoto]:
    """The folder's photos with their person and expression; without a labels file every photo is a neutral of its
    own person."""
    if labels is None:
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        return [LabelledPhoto(p, p.stem, "neutral") for p in photos]
    if not labels.is_file():
        raise PromptFaceError(f"labels file {labels.name} does not exist")
    with open(labels, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"file", "person", "expression"} - set(rows[0] if rows else {})
    if missing:
        raise PromptFaceError(f"labels file {labels.name} needs the columns file,person,expression "
                              f"(missing: {', '.join(sorted(missing))})")
    for line, row in enumerate(rows, start=2):
        if any(not row.get(column) for column in ("file", "person", "expression")):
            raise PromptFaceError(f"labels file {labels.name}, line {line}: give a file, a person and an expression")
        if row["expression"] not in EMOTIONS:
            raise PromptFaceError(f"labels file {labels.name}, line {line}: unknown expression "
                                  f"'{row['expression']}'; use one of {', '.join(EMOTIONS)}")
    photos = [LabelledPhoto(folder / row["file"], row["person"], row["expression"]) for row in rows]
    missing = [photo.path.name for photo in photos if not photo.path.is_file()]
    if missing:
        raise PromptFaceError(f"labels file {labels.name} names photos that are not in the folder: "
                              f"{', '.join(missing[:5])}")
    return photos


def bench_expressions(photos: list[LabelledPhoto], engines: Engines,
                      prompts: tuple[str, ...] = BASIC_PROMPTS) -> None:
    if engines.recogniser is None:
        raise PromptFaceError("bench expressions needs the expression recogniser: "
                              f"{engines.unavailable.get('recogniser', 'not loaded')}")
    scores = {prompt: PromptScores() for prompt in prompts}
    neutral_reads = []
    for photo in photos:
        if photo.expression == "neutral":
            real = [p for p in photos if p.person == photo.person and p.expression != "neutral"]
            _score_neutral_photo(photo, real, engines, prompts, scores)
        else:
            neutral_reads.append(_score_expressive_photo(photo, engines))
    _print(scores, neutral_reads)


def _score_neutral_photo(photo: LabelledPhoto, real: list[LabelledPhoto], engines: Engines,
                         prompts: tuple[str, ...], scores: dict[str, PromptScores]) -> None:
    photo_bytes = photo.path.read_bytes()
    prepared = prepare_subject(photo_bytes, photo.path.name, engines)
    subject = prepared.subject
    neutral_reads = prepared.neutral.data.reads_as
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        path = generate_expressions(prepared, list(prompts), Path(folder) / "set", engines)
        seconds = (time.perf_counter() - started) / len(prompts)
        expression_set = read_expression_set(path)
        base = expression_set.base_mesh.vertices[:len(subject.landmarks_px)]
        for prompt in prompts:  # the basic prompts are their own expression names
            expression = expression_set.expression(prompt)
            record, score = expression.record, scores[prompt]
            reads = record["reads_as"]
            score.photos += 1
            score.hits += max(reads, key=reads.get) == prompt
            change = reads[prompt] - neutral_reads[prompt]
            score.rises += change >= MIN_RISE
            score.probability_change.append(change)
            if record["metrics"]["identity_cosine"] is not None:
                score.identity.append(record["metrics"]["identity_cosine"])
            score.seconds.append(seconds)
            ours = _face_widths(expression.vertices[:len(base)] - base, subject)
            for other in (p for p in real if p.expression == prompt):
                measured = real_motion(subject, other, engines)
                score.correlation.append(float(np.corrcoef(ours.ravel(), measured.ravel())[0, 1]))
                score.magnitude_ratio.append(float(np.linalg.norm(ours, axis=1).mean()
                                                   / np.linalg.norm(measured, axis=1).mean()))


def real_motion(subject: Subject, other: LabelledPhoto, engines: Engines) -> np.ndarray:
    """(468,2) the real landmark motion from the subject's neutral to the same person's expression photo: face-frame
    x, y in face widths, aligned on the subject's stable landmarks."""
    photo_bytes = other.path.read_bytes()
    expressive = calibrate(decode_photo(photo_bytes, other.path.name), other.path.name, photo_bytes, engines.finder,
                           engines.detector, neutralise=False)
    stable = subject.stable_landmarks
    aligned = fit_similarity(expressive.landmarks_px[stable], subject.landmarks_px[stable]).apply(
        expressive.landmarks_px)
    motion_m = subject.crop_to_mesh.to_metres(aligned) - subject.crop_to_mesh.to_metres(subject.landmarks_px)
    return _face_widths(motion_m, subject)


def _face_widths(motion_m: np.ndarray, subject: Subject) -> np.ndarray:
    """(468,3) metres in mesh axes → (468,2) face-frame x, y in face widths."""
    return (motion_m @ subject.frame.axes.T)[:, :2] / subject.frame.width


def _score_expressive_photo(photo: LabelledPhoto, engines: Engines) -> tuple[str, str, str, str]:
    """(photo, its expression, what it reads as, what its neutralised neutral reads as)."""
    photo_bytes = photo.path.read_bytes()
    prepared = prepare_subject(photo_bytes, photo.path.name, engines, PipelineOptions())
    subject = prepared.subject
    as_taken = engines.read_expression(subject.photo_crop, subject)
    neutral = prepared.neutral.data.reads_as
    return photo.path.name, photo.expression, _top(as_taken), _top(neutral)


def _top(reads: dict[str, float]) -> str:
    name = max(reads, key=reads.get)
    return f"{name} {reads[name]:.2f}"


def _print(scores: dict[str, PromptScores], neutral_reads: list[tuple[str, str, str, str]]) -> None:
    print(f"{'prompt':<11} {'hits':>7} {'rises':>7} {'Δp':>6} {'identity min/mean':>18} {'corr':>6} {'ratio':>6} "
          f"{'s/expr':>7}")
    total_hits = total_rises = total = 0
    for prompt, score in scores.items():
        total_hits, total_rises, total = total_hits + score.hits, total_rises + score.rises, total + score.photos
        identity = (f"{min(score.identity):.3f}/{statistics.mean(score.identity):.3f}" if score.identity else "-")
        correlation = f"{statistics.mean(score.correlation):.2f}" if score.correlation else "-"
        ratio = f"{statistics.mean(score.magnitude_ratio):.2f}" if score.magnitude_ratio else "-"
        change = statistics.mean(score.probability_change) if score.probability_change else 0.0
        seconds = statistics.mean(score.seconds) if score.seconds else 0.0
        print(f"{prompt:<11} {score.hits:>3}/{score.photos:<3} {score.rises:>3}/{score.photos:<3} {change:+6.2f} "
              f"{identity:>18} {correlation:>6} {ratio:>6} {seconds:7.3f}")
    if total:
        print(f"{'all':<11} {total_hits:>3}/{total:<3} {total_rises:>3}/{total:<3}   "
              f"top-1 {total_hits / total:.0%}, rises {total_rises / total:.0%}")
    if neutral_reads:
        print("\nexpressive photos, neutralised: photo / expression / reads as (as taken) / reads as (neutralised)")
        for name, expression, as_taken, neutral in neutral_reads:
            print(f"  {name:<40} {expression:<10} {as_taken:<16} {neutral}")
        reads_neutral = sum(neutral.startswith("neutral") for *_, neutral in neutral_reads)
        print(f"  neutralised photos reading neutral: {reads_neutral}/{len(neutral_reads)}")
