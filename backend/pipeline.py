"""The pipeline: one neutral photo + prompts → an expression set on disk.

For a subject, prepared once and reused for every prompt (`prepare_subject`):
    1. detect and crop the face (backend/subject/face_detection.py, calibration.py)
    2. reconstruct the neutral: base mesh, UV layout, base texture; the identity is locked here (reconstructors/)
    3. read the photo's own expression and neutralise it; the photo as taken stays an expression
       (subject/photo_expression.py, neutral_texture.py)
    4. cache what later prompts reuse (the prepared subject; DiffEdit: its inverted latents; with rig="arkit", the
       subject's 52 ARKit shapes, backend/rig/)
For each prompt, on top of the neutralised face (`generate_expressions`), a batch of editor.batch_size at a time:
    5. prompt → action units and emotions (prompts/), then edit the photo into the expression (editors/)
    6. match the skin tone to the neutral's (texture/skin_tone.py)
    7. reconstruct the edited photo with the identity locked, in the base topology (reconstructors/)
    8. its texture in the base UV layout: enhanced, with its change mask (texture/texture_steps.py)
    9. score it against the neutral: identity, SSIM, PSNR, the expression self-check (metrics/); with a rig, its
       ARKit weights and how closely they reproduce it (backend/rig/arkit_rig.py)
and the expression set grows by one (addon/core/expression_set/), a valid set at every moment.
"""
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

import numpy as np

from addon.core.arkit import ARKIT_RIG, RIG_KINDS
from addon.core.errors import PromptFaceError
from addon.core.expression_set import ExpressionData, ExpressionSetBuilder
from addon.core.prompt_grammar import (AS_PHOTOGRAPHED_NAME, AS_PHOTOGRAPHED_PROMPT, NEUTRAL_NAME, PromptKind,
                                       parse_prompt, prompt_expression_names)
from addon.core.protocol import check_engines
from addon.core.self_check import mismatch_warning
from backend.editors.editing import EditedPhoto, Editor, EditRequest
from backend.editors.warp import action_unit_text
from backend.diagnostics import NEUTRAL_ASKED, diagnostic_files, png_bytes
from backend.engines import Engines
from backend.metrics.image_metrics import IdentityEmbedder, image_metrics
from backend.prompts.text_to_action_units import ExpressionIntent, resolve_prompt
from backend.reconstructors.reconstruction import ReconstructionBase
from backend.rig.arkit_rig import ArkitRig, build_arkit_rig
from backend.subject.calibration import CROP_SIZE, Subject, calibrate
from backend.subject.photo_io import PHOTO_SUFFIXES, decode_photo
from backend.texture.skin_tone import difference_heat_map, match_skin_tone
from backend.texture.texture_steps import change_mask, enhance_texture


Progress = Callable[[float, str], None]
Item = TypeVar("Item")


@dataclass(frozen=True)
class PipelineOptions:
    editor: str = "warp"
    reconstructor: str = "landmarks"
    skin_tone_strength: float = 1.0
    enhance: bool = True
    diagnostics: bool = False
    write_expression_objs: bool = False
    crop_size: int = CROP_SIZE
    neutralise: bool = True   # the set's neutral = the photo with its own expression removed (False: as taken)
    rig: str = "prompts"      # "arkit": the set also holds the subject's 52 ARKit shapes, each prompt a pose of them


@dataclass
class GeneratedExpression:
    data: ExpressionData
    diagnostics: dict[str, np.ndarray]


@dataclass(frozen=True)
class EditedExpression:
    """Step 5's result for one prompt: what was asked, the edited photo, and the seconds spent so far."""
    name: str
    request: EditRequest
    edit: EditedPhoto
    timings: dict[str, float]


class JobCancelled(PromptFaceError):
    """The caller asked to stop; out_dir was not written."""


@dataclass
class PreparedSubject:
    """A subject prepared once for every later prompt: its calibration, its reconstructed neutral and the set's first
    expressions (the identity is locked here)."""
    subject: Subject
    base: ReconstructionBase           # the reconstructor's base mesh and texture, shared by every expression
    neutral_embedding: np.ndarray | None
    neutral: GeneratedExpression
    calibration_seconds: float
    as_photographed: GeneratedExpression | None = None  # the photo's own expression, when it was removed
    arkit_rig: ArkitRig | None = None  # built by the first job that asks for it, reused by the later ones


def check_inputs(prompts: list[str], options: PipelineOptions, engines: Engines | None = None,
                 out_dir: str | Path | None = None, overwrite: bool = False, max_prompts: int | None = None) -> None:
    """Everything a run needs, checked before any work: the engines' names (and, given the engines, that those are
    loaded), every prompt (at most max_prompts: Settings.max_prompts for a command or a server), the destination.
    A command calls it before loading the engines too, to fail fast."""
    check_engines(options.editor, options.reconstructor)
    if options.rig not in RIG_KINDS:
        raise PromptFaceError(f"rig {options.rig!r} is not one of {', '.join(RIG_KINDS)}")
    if engines is not None:
        engines.editor_for(options.editor)
        engines.reconstructor_for(options.reconstructor)
    if not prompts:
        raise PromptFaceError("no prompts given; add at least one expression such as 'happy'")
    if max_prompts is not None and len(prompts) > max_prompts:
        raise PromptFaceError(f"{len(prompts)} prompts at once; give 1 to {max_prompts} (the limit here) and split "
                              "longer lists")
    for prompt in prompts:
        parse_prompt(prompt)
    if out_dir is not None and Path(out_dir).exists() and not overwrite:
        raise PromptFaceError(f"'{out_dir}' already exists; choose another --out or pass --overwrite")


def generate(photo_bytes: bytes, photo_name: str, prompts: list[str], out_dir: str | Path, engines: Engines,
             options: PipelineOptions = PipelineOptions(), progress: Progress | None = None,
             overwrite: bool = False) -> Path:
    """Run the whole pipeline for one photo and write the expression set to out_dir (atomically)."""
    check_inputs(prompts, options, engines, out_dir, overwrite)
    (progress or _silent)(0.0, "calibrating the neutral photo")
    prepared = prepare_subject(photo_bytes, photo_name, engines, options)
    return generate_expressions(prepared, prompts, out_dir, engines, options, progress, overwrite)


def prepare_subject(photo_bytes: bytes, photo_name: str, engines: Engines,
                      options: PipelineOptions = PipelineOptions()) -> PreparedSubject:
    """Steps 1–4: the subject, its base and its neutral (and the photo as taken), once per photo."""
    start = time.perf_counter()
    # 1. and 3. Find and crop the face, read the photo's own expression and neutralise it.
    photo = decode_photo(photo_bytes, source=photo_name)
    subject = calibrate(photo, photo_name, photo_bytes, engines.finder, engines.detector, options.crop_size,
                        neutralise=options.neutralise)
    # 2. The reconstructor's base: mesh, UV layout and texture every expression shares.
    base = engines.reconstructor_for(options.reconstructor).reconstruct_neutral(subject)
    seconds = time.perf_counter() - start
    # Identity is measured against the person as photographed, not against the neutralised crop.
    neutral_embedding = engines.embedder.embed(subject.photo_crop)
    if neutral_embedding is None:
        subject.notes.append("the identity model found no face in the photo's crop; identity cosine not measured")
    neutral = _neutral_expression(subject, base, engines, neutral_embedding, options)
    neutral.data.timings["calibration"] = round(seconds, 4)
    # 4. What later prompts reuse.
    prepared = PreparedSubject(subject=subject, base=base, neutral_embedding=neutral_embedding,
                                   neutral=neutral, calibration_seconds=seconds)
    if subject.neutralised:
        prepared.as_photographed = _as_photographed(prepared, engines, options)
    return prepared


def generate_expressions(prepared: PreparedSubject, prompts: list[str], out_dir: str | Path, engines: Engines,
                         options: PipelineOptions = PipelineOptions(), progress: Progress | None = None,
                         overwrite: bool = False,
                         on_expression: Callable[[GeneratedExpression, int, int], None] | None = None,
                         should_cancel: Callable[[], bool] | None = None,
                         partial_dir: str | Path | None = None) -> Path:
    """Prompts → expressions of a prepared subject → the expression set in out_dir (written atomically).

    The set grows expression by expression in partial_dir (default: a hidden sibling of out_dir, removed on
    failure), which is a valid set holding the expressions done so far at every moment; at the end it is renamed
    to out_dir. A given partial_dir must not exist yet and is kept on failure or cancel (the caller owns it).
    on_expression(result, index, total) sees each expression as soon as it is in partial_dir (the live loop);
    should_cancel() is asked between expressions and stops the run with JobCancelled.
    """
    check_inputs(prompts, options, engines, out_dir, overwrite)
    report = progress or _silent
    if any(parse_prompt(prompt).kind == PromptKind.FREE_TEXT for prompt in prompts):
        report(0.0, "loading the text model for free-text prompts")
        engines.text_model()
    rig = arkit_rig_of(prepared, engines, options, report) if options.rig == ARKIT_RIG else None

    def produce(work: list[tuple[str, str]], stop_if_asked: Callable[[], None]) -> Iterator[GeneratedExpression]:
        return local_expressions(prepared, work, engines, options, stop_if_asked)

    return grow_expression_set(prepared, prompts, Path(out_dir), set_header(prepared, options, engines), produce,
                                report, overwrite, rig, options.diagnostics, on_expression, should_cancel,
                                partial_dir)


ExpressionProducer = Callable[[list[tuple[str, str]], Callable[[], None]], Iterator[GeneratedExpression]]
"""produce(work, stop_if_asked): steps 5–9 for every (name, prompt) of work, yielding the results in work's order;
it calls stop_if_asked() between expressions (in-process) or whenever it waits (on a cluster)."""


def grow_expression_set(prepared: PreparedSubject, prompts: list[str], out_dir: Path, header: dict,
                         produce: ExpressionProducer, report: Progress, overwrite: bool = False,
                         rig: ArkitRig | None = None, diagnostics: bool = False,
                         on_expression: Callable[[GeneratedExpression, int, int], None] | None = None,
                         should_cancel: Callable[[], bool] | None = None,
                         partial_dir: str | Path | None = None) -> Path:
    """The set of a prepared subject (inputs checked), growing by one expression at a time as produce() yields them:
    in this process (generate_expressions) or from a cluster's workers (backend/cluster/)."""
    # The set starts with what calibration made: the neutral, and the photo as taken.
    builder = ExpressionSetBuilder(out_dir, **header, overwrite=overwrite, staging_dir=partial_dir)
    results = [prepared.neutral, *([prepared.as_photographed] if prepared.as_photographed else [])]
    work = list(zip(prompt_expression_names(prompts), prompts, strict=True))
    steps = len(prompts) + 1

    def stop_if_asked() -> None:
        _stop_if_asked(should_cancel, out_dir)

    try:
        builder.begin(*[rig.place(result.data) if rig else result.data for result in results],
                      rig=rig.data if rig else None)
        expressions = produce(work, stop_if_asked)
        for done, (name, prompt) in enumerate(work):
            stop_if_asked()
            report(done / steps, f"[{done + 1}/{len(prompts)}] {name}: {prompt}")
            result = next(expressions)
            if rig:
                result.data = rig.place(result.data)
            results.append(result)
            builder.add(result.data)
            if on_expression:
                on_expression(result, done + 1, len(prompts))
        report(len(prompts) / steps, f"writing the expression set to {out_dir}")
        path = builder.finish(diagnostic_files(results) if diagnostics else None)
    except BaseException:
        if partial_dir is None:
            builder.abandon()
        raise
    report(1.0, "done")
    return path


def local_expressions(prepared: PreparedSubject, work: list[tuple[str, str]], engines: Engines,
                      options: PipelineOptions, stop_if_asked: Callable[[], None]) -> Iterator[GeneratedExpression]:
    """Steps 5–9 in this process, editor.batch_size prompts per edit."""
    editor = engines.editor_for(options.editor)
    for batch in batched(work, editor.batch_size):
        # 5. Prompts → action units, then the editor edits the batch.
        edited = edit_photos(prepared.subject, batch, editor, engines)
        for position, expression in enumerate(edited):
            if position:  # between the expressions of a batch too
                stop_if_asked()
            # 6.–9. Skin tone, reconstruction, texture, metrics.
            yield finish_expression(prepared, expression, engines, options)


def arkit_rig_of(prepared: PreparedSubject, engines: Engines, options: PipelineOptions,
               report: Progress = None) -> ArkitRig:
    """Step 4 with rig="arkit": the subject's rig, built on its first use."""
    if prepared.arkit_rig is None:
        (report or _silent)(0.0, "building the subject's 52 ARKit shapes")
        prepared.arkit_rig = build_arkit_rig(prepared.subject, prepared.base, engines, options.reconstructor,
                                             options.enhance)
    return prepared.arkit_rig


def batched(items: Sequence[Item], size: int) -> Iterator[list[Item]]:
    """items in consecutive lists of at most size (itertools.batched, which Python 3.11 lacks)."""
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def edit_photos(subject: Subject, work: list[tuple[str, str]], editor: Editor,
                engines: Engines) -> list[EditedExpression]:
    """Step 5 for a batch of (name, prompt): each prompt resolved to action units, then one edit for the batch."""
    requests, prompt_seconds = [], []
    for _, prompt in work:
        start = time.perf_counter()
        requests.append(EditRequest(prompt, resolve_prompt(prompt, engines.text_model)))
        prompt_seconds.append(round(time.perf_counter() - start, 4))
    start = time.perf_counter()
    edits = editor.edit_batch(subject, requests)
    edit_seconds = round((time.perf_counter() - start) / len(work), 4)  # the batch's time, shared out
    return [EditedExpression(name, request, edit, {"prompt": seconds, "edit": edit_seconds})
            for (name, _), request, edit, seconds in zip(work, requests, edits, prompt_seconds, strict=True)]


def finish_expression(prepared: PreparedSubject, edited_expression: EditedExpression, engines: Engines,
                      options: PipelineOptions) -> GeneratedExpression:
    """Steps 6–9 for one edited photo."""
    subject, base, neutral_embedding = prepared.subject, prepared.base, prepared.neutral_embedding
    name, request, edit = edited_expression.name, edited_expression.request, edited_expression.edit
    intent, timings = request.intent, dict(edited_expression.timings)

    def timed(stage, function, *args, **kwargs):
        start = time.perf_counter()
        value = function(*args, **kwargs)
        timings[stage] = round(time.perf_counter() - start, 4)
        return value

    edited_raw = edit.image
    # 6. Skin tone back to the neutral's.
    skin = timed("skin_tone", match_skin_tone, subject.crop, edited_raw, subject.skin_region, subject.skin_region,
                 strength=options.skin_tone_strength)
    edited = skin.image
    # 7. Reconstruct with the identity locked, texture in the base UV layout.
    reconstructor = engines.reconstructor_for(options.reconstructor)
    reconstruction = timed("reconstruct", reconstructor.reconstruct, subject, base, edited, source=f"'{name}'",
                           known_landmarks=edit.landmarks_px)
    # 8. The texture: enhanced, and where it changed.
    start = time.perf_counter()
    mask = change_mask(reconstruction.texture, base.texture, base.texture_region)
    texture = (enhance_texture(reconstruction.texture, base.texture_region) if options.enhance
               else reconstruction.texture)
    timings["texture"] = round(time.perf_counter() - start, 4)
    # 9. Metrics against the neutral photo (identity before and after skin-tone matching).
    start = time.perf_counter()
    before = engines.embedder.embed(edited_raw)
    after = image_metrics(engines.embedder, subject.crop, edited, neutral_embedding)
    reads_as = engines.read_expression(edited, subject)
    timings["metrics"] = round(time.perf_counter() - start, 4)
    cosine_before = (None if before is None or neutral_embedding is None
                     else IdentityEmbedder.cosine(neutral_embedding, before))
    metrics = {"identity_cosine": after.identity_cosine, "identity_cosine_before_skin_tone": cosine_before,
               "ssim": after.ssim, "psnr": after.psnr, "alignment_error": reconstruction.alignment_error,
               "landmarks_source": reconstruction.landmarks_source}
    warnings = list(intent.warnings)
    if skin.warning:
        warnings.append(skin.warning)
    data = ExpressionData(
        name=name, prompt=request.prompt, full_prompt=edit.full_prompt, vertices=reconstruction.vertices,
        texture=texture, mask=mask, edited=edited, action_units=intent.action_units, weights=intent.emotions,
        metrics=metrics, timings=timings, warnings=_with_self_check(warnings, intent.emotions, reads_as),
        reads_as=reads_as)
    diagnostics = {"skin_mask": np.round(255 * skin.blend_mask).astype(np.uint8),
                   "skin_difference": difference_heat_map(skin.difference),
                   "edited_before_skin_tone": edited_raw, **edit.diagnostics} if options.diagnostics else {}
    return GeneratedExpression(data=data, diagnostics=diagnostics)


def _as_photographed(prepared: PreparedSubject, engines: Engines, options: PipelineOptions) -> GeneratedExpression:
    """The photo as taken, as an expression on top of the neutralised face (its landmarks are known exactly)."""
    subject = prepared.subject
    units = subject.photo_expression.action_units
    intent = ExpressionIntent(prompt=None, action_units=dict(units), emotions=None)
    edit = EditedPhoto(image=subject.photo_crop, landmarks_px=subject.photo_landmarks_px,
                       full_prompt=f"the photo as taken; its own expression read as {action_unit_text(units)}")
    edited = EditedExpression(AS_PHOTOGRAPHED_NAME, EditRequest(AS_PHOTOGRAPHED_PROMPT, intent), edit, {})
    return finish_expression(prepared, edited, engines, options)


def _stop_if_asked(should_cancel: Callable[[], bool] | None, out_dir: Path) -> None:
    if should_cancel and should_cancel():
        raise JobCancelled(f"cancelled before all expressions were done; {out_dir} was not written")


def _silent(fraction: float, message: str) -> None:
    """The progress report of a caller that wants none."""


def _neutral_expression(subject: Subject, base: ReconstructionBase, engines: Engines, neutral_embedding,
                        options: PipelineOptions) -> GeneratedExpression:
    texture = enhance_texture(base.texture, base.texture_region) if options.enhance else base.texture
    metrics = image_metrics(engines.embedder, subject.crop, subject.crop, neutral_embedding)
    reads_as = engines.read_expression(subject.crop, subject)
    described = ("the photo with its own expression removed" if subject.neutralised else "the photo, unedited")
    data = ExpressionData(
        name=NEUTRAL_NAME, prompt=NEUTRAL_NAME, full_prompt=described,
        vertices=base.mesh.vertices, texture=texture,
        mask=np.zeros(texture.shape[:2], np.uint8), edited=subject.crop, action_units={}, weights={},
        metrics={"identity_cosine": metrics.identity_cosine, "ssim": metrics.ssim, "psnr": metrics.psnr},
        warnings=_with_self_check(list(subject.notes), NEUTRAL_ASKED, reads_as), reads_as=reads_as)
    if reads_as is None:  # said once per set, on the neutral
        data.warnings.append(f"expression self-check off: {engines.unavailable.get('recogniser', 'not loaded')}")
    return GeneratedExpression(data=data, diagnostics={})


def _with_self_check(warnings: list[str], asked: dict | None, reads_as: dict | None) -> list[str]:
    """warnings plus the self-check's, when what the recogniser read is not what was asked."""
    mismatch = mismatch_warning(asked, reads_as)
    return [*warnings, mismatch] if mismatch else warnings


def set_header(prepared: PreparedSubject, options: PipelineOptions, loaded: Engines) -> dict:
    """What an expression set says about its subject, engines and base (ExpressionSetBuilder's keywords)."""
    subject = prepared.subject
    suffix = Path(subject.photo_name).suffix.lower() or ".png"
    photo_file = "subject" + (suffix if suffix in PHOTO_SUFFIXES else "")
    subject_record = {"size": list(subject.photo_size), "face_box": subject.face.box.as_list(),
                      "faces_found": subject.face.faces_found,
                      "crop_box": [round(v, 2) for v in subject.crop_box], "notes": subject.notes,
                      "photo_expression": {"action_units": subject.photo_expression.action_units,
                                           "measures": subject.photo_expression.measures,
                                           "removed_from_neutral": subject.neutralised,
                                           "expression": AS_PHOTOGRAPHED_NAME if subject.neutralised else None}}
    editor, reconstructor = loaded.editor_for(options.editor), loaded.reconstructor_for(options.reconstructor)
    engines = {"editor": {"name": editor.name, "version": editor.version, "settings": editor.settings()},
               "reconstructor": {"name": reconstructor.name, "version": reconstructor.version,
                                 "settings": reconstructor.settings()},
               "skin_tone": {"strength": options.skin_tone_strength}, "enhance": options.enhance,
               "neutralise": options.neutralise,
               "self_check": ({"name": loaded.recogniser.name, "version": loaded.recogniser.version}
                              if loaded.recogniser else None)}
    return {"subject": subject_record, "subject_photo": (photo_file, subject.photo_bytes), "engines": engines,
            "base_mesh": prepared.base.mesh, "base_texture": prepared.neutral.data.texture,
            "write_expression_objs": options.write_expression_objs, "png_encoder": png_bytes}
