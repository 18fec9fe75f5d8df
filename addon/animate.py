"""`promptface animate`: photo + prompts → expression set → Blender scene → .blend, FBX and a preview.

With `rig="arkit"` the backend also builds the person's 52 ARKit blendshapes and the face gets those keys (each
prompt a pose of them, addon.scene.rig); its timeline is then the schedule of prompts as poses, or a recorded take
(`drive`: Live Link Face CSV, Audio2Face JSON, a plain CSV) keyed on the 52 keys at its own timing.

The same steps serve the command line (Blender as a module) and, later, the add-on's operators.
Everything is built in a hidden sibling folder and renamed into place at the end, so a failure
leaves nothing half-written.
"""
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import bpy

from .core.arkit import ARKIT_RIG, RIG_KINDS, VISEMES
from .core.arkit_poses import NEUTRAL_POSE, missing_pose_targets
from .core.atomic_files import move_folder_into_place
from .core.errors import PromptFaceError
from .core.expression_set import ExpressionSet, read_expression_set
from .core.face_takes import FaceTake, read_take
from .core.prompt_grammar import AS_PHOTOGRAPHED_NAME, AS_PHOTOGRAPHED_PROMPT, parse_prompt, prompt_expression_names
from .core.protocol import check_engines
from .core.schedule import DEFAULT_HOLD_S, DEFAULT_LEAD_IN_S, parse_schedule
from .generation import worker
from .scene.build import build_face
from .scene.face_object import SET_PATH_PROPERTY, face_prompts
from .scene.face_textures import TEXTURE_FOLDER, pack_images, store_images_in
from .scene.fbx_export import export_fbx
from .render_frames import configure_cycles, render_frames
from .scene.preview import encode_video, frame_face, preview_frames, render_contact_sheet
from .scene.take_keys import drive_from_take
from .scene.timeline import FRAME_START, apply_schedule, missing_targets
from .transports.local import serve_command, write_sample_photo
from .transports.stdio_client import LocalBackend

Progress = Callable[[float, str], None]
POLL_INTERVAL_S = 0.2  # how often the running job's status is asked for


@dataclass(frozen=True)
class AnimateRequest:
    prompts: list[str]
    out_dir: Path
    photo: Path | None = None
    sample: str | None = None
    schedule: str | None = None          # default: neutral, then each expression for 1 s, then neutral
    fps: int = 30
    editor: str = "warp"
    reconstructor: str = "landmarks"
    keep_photo_expression: bool = False  # keep the photo's own expression in the neutral (default: removed)
    preview: bool = True
    preview_size: int = 256
    preview_fps: int = 10
    preview_samples: int = 16
    pack_textures: bool = False          # pack the images into face.blend (default: //textures/, beside it)
    overwrite: bool = False
    rig: str = "prompts"                 # "arkit": the person's 52 ARKit blendshapes, each prompt a pose of them
    prompt_keys: bool = False            # with the rig: a shape key per prompt too
    drive: Path | None = None            # with the rig: a recorded take keys the 52 keys instead of the schedule
    drive_fps: float | None = None       # the take's timecode or frame rate (default: read_take's for its format)
    head_rotation: bool = False          # key the take's head rotation on the face object too


@dataclass
class AnimateResult:
    out_dir: Path
    files: dict[str, Path]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckedRequest:
    """What check_request read: the parsed schedule and the take to drive the rig with (each None when not given)."""

    schedule: list | None
    take: FaceTake | None


def check_request(request: AnimateRequest) -> CheckedRequest:
    """Everything that can be checked before work starts, the rig's options and the take included."""
    if (request.photo is None) == (request.sample is None):
        raise PromptFaceError("give either a photo or --sample")
    if request.photo is not None and not Path(request.photo).is_file():
        raise PromptFaceError(f"photo '{request.photo}' does not exist or is not a file")
    if not request.prompts:
        raise PromptFaceError("no prompts given; add at least one expression such as 'happy'")
    check_engines(request.editor, request.reconstructor)
    for prompt in request.prompts:
        parse_prompt(prompt)
    if request.fps <= 0 or request.preview_fps <= 0:
        raise PromptFaceError(f"frame rates must be positive (got --fps {request.fps}, "
                              f"--preview-fps {request.preview_fps})")
    if not 16 <= request.preview_size <= 4096:
        raise PromptFaceError(f"--preview-size {request.preview_size} is outside 16..4096")
    if request.out_dir.exists() and not request.overwrite:
        raise PromptFaceError(f"'{request.out_dir}' already exists; choose another --out or pass --overwrite")
    take = check_rig_request(request)
    return CheckedRequest(schedule=parse_schedule(request.schedule) if request.schedule else None, take=take)


def check_rig_request(request: AnimateRequest) -> FaceTake | None:
    """The rig's options checked against each other; returns the take to drive it with, read (its reader names a
    column that is not an ARKit shape, or any other fault of the file), or None."""
    if request.rig not in RIG_KINDS:
        raise PromptFaceError(f"--rig {request.rig} is not one of {', '.join(RIG_KINDS)}")
    rigged = request.rig == ARKIT_RIG
    if request.prompt_keys and not rigged:
        raise PromptFaceError("--prompt-keys adds a shape key per prompt beside the ARKit rig's 52; add --rig arkit "
                              "(without a rig every prompt has its own shape key anyway)")
    if request.drive is None:
        for given, flag in ((request.drive_fps is not None, "--drive-fps"), (request.head_rotation, "--head-rotation")):
            if given:
                raise PromptFaceError(f"{flag} is about the take given with --drive; add --drive take.csv")
        return None
    if not rigged:
        raise PromptFaceError("--drive keys a recorded take on the ARKit rig's 52 shape keys; add --rig arkit")
    if request.schedule:
        raise PromptFaceError("--drive and --schedule both make the timeline; give one of them")
    if not Path(request.drive).is_file():
        raise PromptFaceError(f"take '{request.drive}' does not exist or is not a file")
    if request.drive_fps is not None and not (math.isfinite(request.drive_fps) and request.drive_fps > 0):
        raise PromptFaceError(f"--drive-fps must be above zero (got {request.drive_fps:g})")
    take = read_take(Path(request.drive), fps=request.drive_fps)
    if request.head_rotation and take.head_rotation is None:
        raise PromptFaceError(f"{Path(request.drive).name}: this {take.source_format} take has no head rotation; "
                              "leave out --head-rotation")
    return take


def planned_expressions(prompts: list[str], photo_expression: bool = True) -> dict[str, str]:
    """{expression name: prompt} as the backend will name them (the shared naming rule), with the photo as taken
    when its expression is to be removed (a schedule may name it; a photo with no expression of its own has none,
    which the schedule then reports)."""
    planned = {AS_PHOTOGRAPHED_NAME: AS_PHOTOGRAPHED_PROMPT} if photo_expression else {}
    return {**planned, **dict(zip(prompt_expression_names(prompts), prompts, strict=True))}


def schedule_prompts(entries: list, planned: dict[str, str], rig: str) -> list[str]:
    """The prompts a schedule names that were not asked for; with the rig, an entry naming a viseme needs none."""
    if rig == ARKIT_RIG:
        return missing_pose_targets(entries, planned, [NEUTRAL_POSE, *VISEMES])
    return missing_targets(entries, planned)


def default_schedule(names: list[str]) -> str:
    return ", ".join([f"neutral {DEFAULT_LEAD_IN_S:g}s", *(f"{name} {DEFAULT_HOLD_S:g}s" for name in names),
                      "neutral"])


def generate_expression_set(request: AnimateRequest, prompts: list[str], folder: Path, progress: Progress) -> None:
    """The expression set of the request's photo (or sample) and these prompts, written to folder (which must not
    exist yet), by `promptface-backend serve --stdio` on a data dir of its own: the panel's Generate loop
    (generation/worker.py) over the JSON-lines client, its progress relayed. Raises PromptFaceError with the
    backend's message when the job cannot be made."""
    with tempfile.TemporaryDirectory(prefix="promptface-animate-", ignore_cleanup_errors=True) as temporary:
        temporary = Path(temporary)
        photo = request.photo or write_sample_photo(request.sample, temporary / f"{request.sample}.png")
        command = serve_command(temporary / "backend", request.editor, request.reconstructor)
        job = worker.GenerateRequest(photo=Path(photo), prompts=prompts, editor=request.editor,
                                     reconstructor=request.reconstructor, cache_root=folder.parent,
                                     poll_interval_s=POLL_INTERVAL_S,
                                     options=job_options(request))
        task = worker.Task("animate", lambda task: worker.generate(task, lambda: LocalBackend(command=command), job))
        _finished_set(task.start(), progress).rename(folder)


def job_options(request: AnimateRequest) -> dict:
    """The job's options for the backend: whether the photo's expression is removed, and the rig when asked."""
    options = {"neutralise": not request.keep_photo_expression}
    if request.rig == ARKIT_RIG:
        options["rig"] = ARKIT_RIG
    return options


def build_shot_scene(expression_set: ExpressionSet, request: AnimateRequest,
                     take: FaceTake | None = None) -> bpy.types.Object:
    """The face and its timeline in the current scene: the face (with the rig when asked), then the take keyed on
    its 52 keys at the request's fps, or else the schedule of prompts (the default one without --schedule)."""
    if request.rig == ARKIT_RIG and expression_set.rig is None:
        raise PromptFaceError(f"the expression set {expression_set.root} has no ARKit rig; the backend did not "
                              "build one (is it older than this PromptFace?)")
    face = build_face(expression_set, prompt_keys=request.prompt_keys)
    if take is not None:
        drive_from_take(face, take, bpy.context.scene, fps=request.fps, start_frame=FRAME_START,
                        head_rotation=request.head_rotation)
    else:
        schedule = parse_schedule(request.schedule or default_schedule(expression_set.names()[1:]))
        apply_schedule(face, schedule, fps=request.fps, expressions=face_prompts(face))
    return face


def _finished_set(task: worker.Task, progress: Progress) -> Path:
    """Relay the task's progress until it ends; returns the folder of the job's finished set."""
    folder, last = None, None
    while True:
        event = task.events.get()
        if isinstance(event, worker.JobStarted):
            folder = event.folder
        elif isinstance(event, worker.Progress) and (event.fraction, event.message) != last:
            last = (event.fraction, event.message)  # the worker reports at every status poll: only changes count
            progress(event.fraction, event.message)
        elif isinstance(event, worker.Failed):
            raise PromptFaceError(event.message)
        elif isinstance(event, worker.Finished):
            if event.status != "succeeded":
                raise PromptFaceError(event.message)
            return folder
        # Notes (also in the set's manifest) and set updates are for the panel, which shows the set as it grows.


def animate(request: AnimateRequest, progress: Progress | None = None) -> AnimateResult:
    report = progress or (lambda fraction, message: None)
    seconds: dict[str, float] = {}
    # 1. Check the request; add the prompts the schedule needs that were not asked for.
    checked = check_request(request)
    prompts = list(request.prompts)
    if checked.schedule is not None:
        prompts += schedule_prompts(checked.schedule, planned_expressions(prompts, not request.keep_photo_expression),
                                    request.rig)
    out_dir = Path(request.out_dir).resolve()  # Blender resolves relative image paths against its own folder
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        # 2. The expression set, from the backend on this machine.
        start = time.perf_counter()
        generate_expression_set(request, prompts, work / "expressions",
                                progress=lambda f, message: report(0.6 * f, message))
        seconds["pipeline"] = time.perf_counter() - start
        expression_set = read_expression_set(work / "expressions")
        # 3. The scene: face, blended material, timeline.
        start = time.perf_counter()
        report(0.6, "building the Blender scene")
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        face = build_shot_scene(expression_set, request, checked.take)
        frame_face(scene, face)
        configure_cycles(scene, request.preview_size, request.preview_samples)
        # The set moves with the folder, so the face records it relative to the .blend (Blender's // prefix).
        face[SET_PATH_PROPERTY] = "//expressions"
        # The images are read from textures/ beside the .blend (saved as //textures/...), the folder face.fbx
        # uses too, or packed into it: face.blend works wherever it goes with textures/, or alone when packed.
        store_images_in(face, work / TEXTURE_FOLDER)
        if request.pack_textures:
            pack_images(face)
        blend_path = work / "face.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(blend_path), relative_remap=True, compress=True)
        seconds["scene"] = time.perf_counter() - start
        # 4. FBX for Unity.
        start = time.perf_counter()
        report(0.65, "exporting face.fbx")
        fbx_path = export_fbx(face, work / "face.fbx")
        seconds["export"] = time.perf_counter() - start
        files = {"expression_set": out_dir / "expressions", "blend": out_dir / "face.blend",
                 "fbx": out_dir / fbx_path.name, "textures": out_dir / TEXTURE_FOLDER}
        # 5. Preview: contact sheet of the expressions, timeline frames, video.
        if request.preview:
            start = time.perf_counter()
            report(0.7, "rendering the contact sheet")
            with tempfile.TemporaryDirectory() as tiles:
                render_contact_sheet(scene, face, work / "contact_sheet.png", Path(tiles))
            frames = preview_frames(scene, request.preview_fps)
            frame_files = render_frames(scene, frames, work / "preview",
                                        progress=lambda f, message: report(0.72 + 0.25 * f, message))
            encode_video(frame_files, work / "preview.mp4", request.preview_fps)
            seconds["preview"] = time.perf_counter() - start
            files.update(contact_sheet=out_dir / "contact_sheet.png", video=out_dir / "preview.mp4",
                         frames=out_dir / "preview")
        # 6. Into place (an old output is moved aside first and removed only once the new one is there).
        move_folder_into_place(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    report(1.0, f"done: {out_dir}")
    return AnimateResult(out_dir=out_dir, files=files, seconds=seconds)
