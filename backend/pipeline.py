"""The pipeline: one neutral photo + prompts → an expression set on disk (DESIGN.md "The pipeline").

`Engines` holds everything that is loaded once (models, editor, reconstructor) so a server can keep it
warm; `generate` runs the numbered steps for one subject and a list of prompts.
"""
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from addon.core.errors import PromptFaceError
from addon.core.expression_set import ExpressionData, ExpressionSetBuilder
from addon.core.prompt_grammar import AS_PHOTOGRAPHED_NAME, NEUTRAL_NAME, parse_prompt, prompt_expression_names
from addon.core.self_check import mismatch_warning, reading_label
from backend.subject.calibration import CROP_SIZE, Subject, calibrate
from backend.editors.editing import EditedPhoto, EditRequest
from backend.editors.warp import WarpEditor, action_unit_text
from backend.subject.face_detection import FaceFinder, LandmarkDetector
from backend.metrics.image_metrics import IdentityEmbedder, image_metrics
from backend.subject.photo_io import decode_photo
from backend.reconstructors.landmarks import LandmarkReconstructor
from backend.reconstructors.reconstruction import ReconstructionBase
from backend.texture.skin_tone import difference_heat_map, match_skin_tone
from backend.prompts.text_to_action_units import ExpressionIntent, TextEmotionModel, resolve_prompt
from backend.texture.texture_steps import change_mask, enhance_texture

if TYPE_CHECKING:
    from backend.editors.diffedit import DiffEditSettings
    from backend.metrics.expression_recognition import ExpressionRecogniser

MAX_PROMPTS = 32
# What the neutral asks of the self-check (its manifest weights stay empty: no prompt made it).
NEUTRAL_ASKED = {NEUTRAL_NAME: 1.0}
EDITORS = ("warp", "diffedit")
RECONSTRUCTORS = ("landmarks", "deca")
DIFFEDIT_NOT_CONFIGURED = ("the diffedit editor is not loaded here: it needs a Stable Diffusion model (a GPU is "
                           "advised); pass --diffedit-model FOLDER_OR_HUB_ID to `promptface-backend serve`, or set "
                           "PROMPTFACE_DIFFEDIT_MODEL where it runs")
DECA_NOT_CONFIGURED = ("the deca reconstructor is not loaded here: it needs the DECA and FLAME files (licensed by "
                       "their owners); pass --deca-folder FOLDER to `promptface-backend serve`, or set "
                       "PROMPTFACE_DECA_FOLDER where it runs")

# Engines.text_model_status() until a free-text prompt has loaded the sentence model.
TEXT_MODEL_NOT_LOADED = "loads on first free-text prompt"

Progress = Callable[[float, str], None]


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


def check_engines(editor: str, reconstructor: str) -> None:
    """Refuse unknown engines with the list of those that exist."""
    for kind, name, known in (("editor", editor, EDITORS), ("reconstructor", reconstructor, RECONSTRUCTORS)):
        if name not in known:
            raise PromptFaceError(f"unknown {kind} '{name}'; choose one of: {', '.join(known)}")


@dataclass
class Engines:
    """Models loaded once and reused across subjects and prompts."""
    finder: FaceFinder
    detector: LandmarkDetector
    embedder: IdentityEmbedder
    editors: dict                      # name → editor (backend/editors/editing.py says what an editor is)
    reconstructors: dict               # name → reconstructor (backend/reconstructors/reconstruction.py)
    recogniser: "ExpressionRecogniser | None" = None  # the expression self-check (None: its weights are missing)
    load_seconds: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # engine name → why it is not loaded
    _text_model: TextEmotionModel | None = None
    # The worker thread loads the sentence model for a job while other threads may ask about it.
    _text_model_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, editor: str = "warp", reconstructor: str = "landmarks",
             diffedit: "DiffEditSettings | None" = None, deca_folder: str | Path | None = None) -> "Engines":
        """The face and identity models and the engines. diffedit and deca load only when configured (their
        settings, their folder); failing to load the editor or reconstructor asked for is an error, otherwise the
        reason is kept and reported."""
        check_engines(editor, reconstructor)
        if editor == "diffedit" and diffedit is None:
            raise PromptFaceError(DIFFEDIT_NOT_CONFIGURED)
        if reconstructor == "deca" and deca_folder is None:
            raise PromptFaceError(DECA_NOT_CONFIGURED)
        seconds, unavailable = {}, {"diffedit": DIFFEDIT_NOT_CONFIGURED, "deca": DECA_NOT_CONFIGURED}
        # First the optional engines: missing files are reported before anything else loads.
        editors, reconstructors = {"warp": WarpEditor()}, {}
        if diffedit is not None:
            from backend.editors.diffedit import DiffEditEditor
            _load_optional("diffedit", lambda: DiffEditEditor.from_pretrained(diffedit), editors, unavailable,
                           seconds, required=editor == "diffedit")
        if deca_folder is not None:
            from backend.reconstructors.deca import DecaPipelineReconstructor
            _load_optional("deca", lambda: DecaPipelineReconstructor.from_folder(deca_folder), reconstructors,
                           unavailable, seconds, required=reconstructor == "deca")
        start = time.perf_counter()
        finder, detector = FaceFinder(), LandmarkDetector()
        seconds["face_models"] = time.perf_counter() - start
        start = time.perf_counter()
        embedder = IdentityEmbedder()
        seconds["identity_model"] = time.perf_counter() - start
        reconstructors["landmarks"] = LandmarkReconstructor(detector)
        start = time.perf_counter()
        try:  # the self-check is a report, not a step: the pipeline runs without it
            from backend.metrics.expression_recognition import ExpressionRecogniser  # torch, h5py: loaded only here
            recogniser = ExpressionRecogniser()
        except ImportError as error:
            recogniser, unavailable["recogniser"] = None, f"the expression self-check needs {error.name or 'h5py'}"
        except PromptFaceError as error:
            recogniser, unavailable["recogniser"] = None, str(error)
        seconds["recogniser_model"] = time.perf_counter() - start
        return cls(finder=finder, detector=detector, embedder=embedder, editors=editors,
                   reconstructors=reconstructors, recogniser=recogniser, load_seconds=seconds,
                   unavailable=unavailable)

    def editor_for(self, name: str):
        """The loaded editor called name; an error saying why when it is not loaded."""
        check_engines(name, "landmarks")
        if name not in self.editors:
            raise PromptFaceError(self.unavailable.get(name, f"the editor '{name}' is not loaded"))
        return self.editors[name]

    def reconstructor_for(self, name: str):
        """The loaded reconstructor called name; an error saying why when it is not loaded."""
        check_engines("warp", name)
        if name not in self.reconstructors:
            raise PromptFaceError(self.unavailable.get(name, f"the reconstructor '{name}' is not loaded"))
        return self.reconstructors[name]

    def read_expression(self, image: np.ndarray, subject: Subject) -> dict[str, float] | None:
        """The self-check: {class: probability} for an (S,S,3) crop of the subject; None without the recogniser.
        The neutral's landmarks frame every expression alike, so readings of one subject compare."""
        if self.recogniser is None:
            return None
        return self.recogniser.read(image, subject.landmarks_px)

    def text_model(self) -> TextEmotionModel:
        """The sentence model, loaded on first use (only free-text prompts need it), once whichever thread asks."""
        with self._text_model_lock:
            if self._text_model is None:
                start = time.perf_counter()
                self._text_model = TextEmotionModel()
                self.load_seconds["text_model"] = time.perf_counter() - start
            return self._text_model

    @property
    def text_model_loaded(self) -> bool:
        return self._text_model is not None

    def text_model_status(self) -> str:
        """What to report about the sentence model: whether it is loaded, or when it will be."""
        return "loaded" if self.text_model_loaded else TEXT_MODEL_NOT_LOADED


def _load_optional(name: str, load: Callable[[], object], loaded: dict, unavailable: dict[str, str],
                   seconds: dict[str, float], required: bool) -> None:
    """Load one optional engine into loaded[name]; its error is raised when required, else kept in unavailable."""
    start = time.perf_counter()
    try:
        loaded[name] = load()
        del unavailable[name]
    except PromptFaceError as error:
        if required:
            raise
        unavailable[name] = str(error)
    seconds[f"{name}_model"] = time.perf_counter() - start


@dataclass
class GeneratedExpression:
    data: ExpressionData
    diagnostics: dict[str, np.ndarray]


def check_prompts(prompts: list[str]) -> None:
    """Every prompt must parse before any work starts."""
    if not prompts:
        raise PromptFaceError("no prompts given; add at least one expression such as 'happy'")
    if len(prompts) > MAX_PROMPTS:
        raise PromptFaceError(f"{len(prompts)} prompts in one run; the limit is {MAX_PROMPTS}, split the list")
    for prompt in prompts:
        parse_prompt(prompt)


class JobCancelled(PromptFaceError):
    """The caller asked to stop; out_dir was not written."""


@dataclass
class CalibratedSubject:
    """A subject calibrated once and reused for every later prompt (the identity is locked here)."""
    subject: Subject
    base: ReconstructionBase           # the reconstructor's base mesh and texture, shared by every expression
    neutral_embedding: np.ndarray | None
    neutral: GeneratedExpression
    calibration_seconds: float
    as_photographed: GeneratedExpression | None = None  # the photo's own expression, when it was removed


def _calibrated_expressions(calibrated: CalibratedSubject) -> list[GeneratedExpression]:
    """What calibration adds to every set, before the prompts: the neutral, then the photo as taken."""
    return [calibrated.neutral, *([calibrated.as_photographed] if calibrated.as_photographed else [])]


def calibrate_subject(photo_bytes: bytes, photo_name: str, engines: Engines,
                      options: PipelineOptions = PipelineOptions()) -> CalibratedSubject:
    """Decode the photo, find the face, build the base mesh, texture and action-unit fields."""
    start = time.perf_counter()
    photo = decode_photo(photo_bytes, source=photo_name)
    subject = calibrate(photo, photo_name, photo_bytes, engines.finder, engines.detector, options.crop_size,
                        neutralise=options.neutralise)
    base = engines.reconstructor_for(options.reconstructor).calibrate(subject)
    seconds = time.perf_counter() - start
    # Identity is measured against the person as photographed, not against the neutralised crop.
    neutral_embedding = engines.embedder.embed(subject.photo_crop)
    if neutral_embedding is None:
        subject.notes.append("the identity model found no face in the photo's crop; identity cosine not measured")
    neutral = _neutral_expression(subject, base, engines, neutral_embedding, options)
    neutral.data.timings["calibration"] = round(seconds, 4)
    calibrated = CalibratedSubject(subject=subject, base=base, neutral_embedding=neutral_embedding,
                                   neutral=neutral, calibration_seconds=seconds)
    if subject.neutralised:
        calibrated.as_photographed = _as_photographed(calibrated, engines, options)
    return calibrated


def _as_photographed(calibrated: CalibratedSubject, engines: Engines, options: PipelineOptions) -> GeneratedExpression:
    """The photo as taken, as an expression on top of the neutralised face (its landmarks are known exactly)."""
    subject = calibrated.subject
    units = subject.photo_expression.action_units
    intent = ExpressionIntent(prompt=None, action_units=dict(units), emotions=None)
    edit = EditedPhoto(image=subject.photo_crop, landmarks_px=subject.photo_landmarks_px,
                       full_prompt=f"the photo as taken; its own expression read as {action_unit_text(units)}")
    return _expression(calibrated, AS_PHOTOGRAPHED_NAME, EditRequest("as photographed", intent), edit, {}, engines,
                       options)


def generate(photo_bytes: bytes, photo_name: str, prompts: list[str], out_dir: str | Path, engines: Engines,
             options: PipelineOptions = PipelineOptions(), progress: Progress | None = None,
             overwrite: bool = False) -> Path:
    """Run the whole pipeline for one photo and write the expression set to out_dir (atomically)."""
    check_engines(options.editor, options.reconstructor)
    engines.editor_for(options.editor)
    engines.reconstructor_for(options.reconstructor)
    check_prompts(prompts)
    _check_destination(Path(out_dir), overwrite)
    report = progress or (lambda fraction, message: None)
    report(0.0, "calibrating the neutral photo")
    calibrated = calibrate_subject(photo_bytes, photo_name, engines, options)
    return generate_expressions(calibrated, prompts, out_dir, engines, options, progress, overwrite)


def generate_expressions(calibrated: CalibratedSubject, prompts: list[str], out_dir: str | Path, engines: Engines,
                         options: PipelineOptions = PipelineOptions(), progress: Progress | None = None,
                         overwrite: bool = False,
                         on_expression: Callable[[GeneratedExpression, int, int], None] | None = None,
                         should_cancel: Callable[[], bool] | None = None,
                         partial_dir: str | Path | None = None) -> Path:
    """Prompts → expressions of a calibrated subject → the expression set in out_dir (written atomically).

    The set grows expression by expression in partial_dir (default: a hidden sibling of out_dir, removed on
    failure), which is a valid set holding the expressions done so far at every moment; at the end it is renamed
    to out_dir. A given partial_dir must not exist yet and is kept on failure or cancel (the caller owns it).
    on_expression(result, index, total) sees each expression as soon as it is in partial_dir (the live loop);
    should_cancel() is asked between expressions and stops the run with JobCancelled.
    """
    report = progress or (lambda fraction, message: None)
    # 1. Check everything before any work.
    check_engines(options.editor, options.reconstructor)
    check_prompts(prompts)
    out_dir = Path(out_dir)
    _check_destination(out_dir, overwrite)
    steps = len(prompts) + 1
    if any(parse_prompt(prompt).kind == "free_text" for prompt in prompts):
        report(0.0, "loading the text model for free-text prompts")
        engines.text_model()
    editor = engines.editor_for(options.editor)
    # 2. The neutral comes from calibration; the set starts with it.
    builder = ExpressionSetBuilder(out_dir, **set_header(calibrated, options, engines), overwrite=overwrite,
                                   staging_dir=partial_dir)
    results = _calibrated_expressions(calibrated)
    work = list(zip(prompt_expression_names(prompts), prompts))
    edited: dict[int, tuple] = {}
    try:
        builder.begin(*[result.data for result in results])  # the neutral and the photo as taken, together
        # 3. One expression per prompt; the editor edits editor.batch_size prompts at a time.
        for index, (name, prompt) in enumerate(work, start=1):
            if should_cancel and should_cancel():
                raise JobCancelled(f"cancelled before all expressions were done; {out_dir} was not written")
            report((index - 1) / steps, f"[{index}/{len(prompts)}] {name}: {prompt}")
            if index not in edited:
                edited.update(_edit_batch(calibrated.subject, work[index - 1:index - 1 + editor.batch_size], index,
                                          editor, engines))
            request, edit, timings = edited.pop(index)
            result = _expression(calibrated, name, request, edit, timings, engines, options)
            results.append(result)
            builder.add(result.data)
            if on_expression:
                on_expression(result, index, len(prompts))
        # 4. Diagnostics, then the set moves into place.
        report(len(prompts) / steps, f"writing the expression set to {out_dir}")
        path = builder.finish(_diagnostic_files(results) if options.diagnostics else None)
    except BaseException:
        if partial_dir is None:
            builder.abandon()
        raise
    report(1.0, "done")
    return path


def _check_destination(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not overwrite:
        raise PromptFaceError(f"'{out_dir}' already exists; choose another --out or pass --overwrite")


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


def _edit_batch(subject: Subject, work: list[tuple[str, str]], first_index: int, editor,
                engines: Engines) -> dict[int, tuple]:
    """Steps 4–5 for a batch of (name, prompt): index → (request, edited photo, timings so far)."""
    requests, prompt_seconds = [], []
    for _, prompt in work:
        start = time.perf_counter()
        requests.append(EditRequest(prompt, resolve_prompt(prompt, engines.text_model)))
        prompt_seconds.append(round(time.perf_counter() - start, 4))
    start = time.perf_counter()
    edits = editor.edit_batch(subject, requests)
    edit_seconds = round((time.perf_counter() - start) / len(work), 4)  # the batch's time, shared out
    return {first_index + offset: (request, edit, {"prompt": seconds, "edit": edit_seconds})
            for offset, (request, edit, seconds) in enumerate(zip(requests, edits, prompt_seconds))}


def _expression(calibrated: CalibratedSubject, name: str, request: EditRequest, edit: EditedPhoto,
                timings: dict[str, float], engines: Engines, options: PipelineOptions) -> GeneratedExpression:
    """Steps 6–9 for one edited photo."""
    subject, base, neutral_embedding = calibrated.subject, calibrated.base, calibrated.neutral_embedding
    intent, timings = request.intent, dict(timings)

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
    # 8. Enhance, change mask.
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


def _with_self_check(warnings: list[str], asked: dict | None, reads_as: dict | None) -> list[str]:
    """warnings plus the self-check's, when what the recogniser read is not what was asked."""
    mismatch = mismatch_warning(asked, reads_as)
    return [*warnings, mismatch] if mismatch else warnings


def set_header(calibrated: CalibratedSubject, options: PipelineOptions, loaded: Engines) -> dict:
    """What an expression set says about its subject, engines and base (ExpressionSetBuilder's keywords)."""
    subject = calibrated.subject
    suffix = Path(subject.photo_name).suffix.lower() or ".png"
    photo_file = "subject" + (suffix if suffix in (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff") else "")
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
            "base_mesh": calibrated.base.mesh, "base_texture": calibrated.neutral.data.texture,
            "write_expression_objs": options.write_expression_objs, "png_encoder": _png}


def _diagnostic_files(results: list[GeneratedExpression]) -> dict[str, bytes]:
    files = {f"diagnostics/{result.data.name}.{kind}.png": _png(image)
             for result in results for kind, image in result.diagnostics.items()}
    files["diagnostics/contact_sheet.png"] = _png(contact_sheet([result.data.edited for result in results],
                                                                [sheet_label(result.data) for result in results]))
    return files


def contact_sheet(images: list[np.ndarray], labels: list[tuple[str, str]] | None = None, tile: int = 256,
                  columns: int = 5) -> np.ndarray:
    """(rows·(tile+L), columns·tile, 3) uint8: the images in a grid, each over its label lines (prompt, reading)."""
    label_height = 40 if labels else 0
    tiles = []
    for index, image in enumerate(images):
        cell = np.full((tile + label_height, tile, 3), 255, np.uint8)
        cell[:tile] = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)
        for line, (text, scale, grey) in enumerate(zip(labels[index] if labels else (), (0.5, 0.36), (0, 90))):
            cv2.putText(cell, text[:int(16 / scale)], (4, tile + 16 + 18 * line), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (grey, grey, grey), 1, cv2.LINE_AA)
        tiles.append(cell)
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % columns)
    return np.vstack([np.hstack(tiles[row:row + columns]) for row in range(0, len(tiles), columns)])


def sheet_label(data: ExpressionData) -> tuple[str, str]:
    """A contact-sheet tile's two lines: the prompt, and what the self-check read."""
    return data.prompt, reading_label(data.weights or (NEUTRAL_ASKED if data.name == NEUTRAL_NAME else None),
                                      data.reads_as)


def _png(image: np.ndarray) -> bytes:
    converted = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, encoded = cv2.imencode(".png", converted)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return encoded.tobytes()
