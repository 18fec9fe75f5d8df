"""Recorded face takes: ARKit blendshape weights over time, read from the files capture tools write.

Three formats are read, each into a ``FaceTake`` (times from 0 s, a weight per frame for each of the 52 ARKit
shapes, in ARKIT_SHAPES order; shapes a file lacks stay 0):

- Live Link Face CSV (Epic's iPhone app): ``Timecode,BlendShapeCount,EyeBlinkLeft,…,TongueOut,HeadYaw,HeadPitch,
  HeadRoll,LeftEyeYaw,…,RightEyeRoll``, one row per captured frame.
- Audio2Face blendshape JSON (NVIDIA's export): ``exportFps``, ``facsNames``, ``weightMat`` (numFrames × numPoses).
- A plain CSV: a first column ``frame`` (numbers at a given fps) or ``time`` (seconds), then one column per shape.

Column names are matched through one alias table (``arkit_name``): ARKit's own names in any case (so also Live
Link Face's ``EyeBlinkLeft``), ICT/Meta-style side suffixes (``eyeBlink_L``), and dotted prefixes
(``blendShape2.eyeBlinkLeft``).

Live Link Face's rows carry a timecode ``HH:MM:SS:FF.fff``: FF counts frames at the timecode's rate and .fff is a
fraction of a frame. The rate is not in the file, so it is a parameter (the app's default is 60 fps) and checked
against the frame numbers. A row's time is its timecode's, relative to the first row's, so dropped frames keep
their timing. Its head rotation is converted to radians with LIVE_LINK_FACE_ROTATION_UNIT_RADIANS (see there).

A take meets a Blender scene through ``sample_take``: its weights at every scene frame, linearly interpolated.
"""
import csv
import io
import json
import math
import re
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

import numpy as np

from .arkit import ARKIT_SHAPES
from .errors import TakeError

LIVE_LINK_FACE_FORMAT = "Live Link Face CSV"
AUDIO2FACE_FORMAT = "Audio2Face JSON"
PLAIN_CSV_FORMAT = "CSV"

LIVE_LINK_FACE_DEFAULT_FPS = 60.0
"""Live Link Face's default capture rate; its CSV does not say the rate of its timecodes."""
PLAIN_CSV_DEFAULT_FPS = 30.0
"""The rate of a plain CSV's ``frame`` column when none is given."""
WEIGHT_TOLERANCE = 0.01
"""Weights this far outside 0..1 (solver noise) are clamped into it; further out is an error."""

LIVE_LINK_FACE_ROTATION_UNIT_RADIANS = math.pi
"""One unit of Live Link Face's HeadYaw/HeadPitch/HeadRoll (and eye rotation) columns, in radians.

Assumed, as the app's CSV format is not documented: the values are angles divided by 180°, so 1.0 is half a turn.
Epic's ARKit face code in Unreal Engine (AppleARKitConversion.h, ToBlendShapeMap: "Map the -180..180 range to
-1..1", each rotation in degrees / 180), which the app is built on, writes them so, and in public Live Link Face
takes the difference between the two eyes' yaw (the eyes converging on the phone) is about 0.065: 11.7° in this
unit, what a phone 30 cm away gives, but only 3.7° were it radians. Change this constant should they be radians."""

LIVE_LINK_FACE_HEAD_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll")
LIVE_LINK_FACE_EYE_COLUMNS = ("LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch",
                              "RightEyeRoll")
"""Read past: the eyes' rotation is already in the eyeLook… shapes."""
LIVE_LINK_FACE_FIRST_COLUMNS = ("Timecode", "BlendShapeCount")

IGNORED_COLUMNS = ("_neutral",)
"""Columns that are known not to be shapes and are left out: MediaPipe's rest category."""

COMMON_FRAME_RATES = (24, 25, 30, 48, 50, 60, 100, 120, 240)
"""What a timecode's rate is suggested from when the given one cannot be right."""

_TIMECODE = re.compile(r"(\d{1,2}):(\d{2}):(\d{2}):(\d{1,3})(\.\d+)?")
_TIME_COLUMNS = ("frame", "time")


@dataclass
class FaceTake:
    """A recorded performance: ARKit weights at the take's own frame times."""

    fps: float
    """The rate the take was recorded or exported at (the timecode rate of a Live Link Face take)."""
    frame_times_s: np.ndarray
    """(T,) seconds of each frame from the first (0.0), increasing; gaps where frames were dropped."""
    weights: np.ndarray
    """(T, 52) weights in 0..1, columns in ARKIT_SHAPES order (0 for the shapes the file lacks)."""
    head_rotation: np.ndarray | None
    """(T, 3) head yaw, pitch, roll in radians, or None when the file has none."""
    source_format: str
    """LIVE_LINK_FACE_FORMAT, AUDIO2FACE_FORMAT or PLAIN_CSV_FORMAT."""

    def __post_init__(self):
        self.frame_times_s = np.asarray(self.frame_times_s, dtype=np.float64)
        self.weights = np.asarray(self.weights, dtype=np.float64)
        count = len(self.frame_times_s)
        if count == 0 or self.frame_times_s.shape != (count,) or self.weights.shape != (count, len(ARKIT_SHAPES)):
            raise ValueError(f"a take needs (T,) times and (T, 52) weights with T > 0, not "
                             f"{self.frame_times_s.shape} and {self.weights.shape}")
        if self.frame_times_s[0] != 0.0 or np.any(np.diff(self.frame_times_s) <= 0):
            raise ValueError("a take's frame times must start at 0 and increase")
        if self.head_rotation is not None:
            self.head_rotation = np.asarray(self.head_rotation, dtype=np.float64)
            if self.head_rotation.shape != (count, 3):
                raise ValueError(f"a take's head rotation must be ({count}, 3), not {self.head_rotation.shape}")

    @property
    def duration_s(self) -> float:
        return float(self.frame_times_s[-1])


# --- column names -------------------------------------------------------------------------------


def _alias_table() -> dict[str, str]:
    table = {}
    for name in ARKIT_SHAPES:
        variants = [name]
        for side, letter in (("Left", "L"), ("Right", "R")):
            if name.endswith(side):
                base = name[: -len(side)]
                variants += [f"{base}_{letter}", f"{base}_{side}"]
        for variant in variants:
            table[variant.lower()] = name
    return table


ARKIT_ALIASES: dict[str, str] = _alias_table()
"""Lower-cased column name -> ARKit name: each ARKit name, and for a Left/Right shape also ``base_L``/``base_R``
and ``base_Left``/``base_Right`` (eyeBlink_L, eyeBlink_Left). Looked up case-insensitively, so Live Link Face's
EyeBlinkLeft and eyeblink_l match too."""
assert len(set(ARKIT_ALIASES.values())) == len(ARKIT_SHAPES)


def arkit_name(column: str) -> str | None:
    """The ARKit name a take's column stands for; None for a column known not to be a shape (IGNORED_COLUMNS).
    A dotted prefix (``blendShape2.eyeBlinkLeft``) is left out. Raises TakeError for any other column."""
    name = column.strip().rsplit(".", 1)[-1].lower()
    if name in IGNORED_COLUMNS:
        return None
    if name not in ARKIT_ALIASES:
        raise TakeError(
            f"column {column!r} is not an ARKit blendshape: expected one of the 52 ARKit names (eyeBlinkLeft, "
            f"jawOpen, …) in any case, optionally with a _L/_R side suffix (eyeBlink_L) or a dotted prefix "
            f"(blendShapes.eyeBlinkLeft); {', '.join(IGNORED_COLUMNS)} is ignored"
        )
    return ARKIT_ALIASES[name]


def _shape_columns(columns: list[tuple[int, str]], source: str) -> list[tuple[int, int]]:
    """(column position in the file, ARKIT_SHAPES index) of each shape among ``(position, name)`` columns."""
    first_column_of = {}
    shape_columns = []
    for position, column in columns:
        try:
            name = arkit_name(column)
        except TakeError as error:
            raise TakeError(f"{source}: {error}") from None
        if name is None:
            continue
        if name in first_column_of:
            raise TakeError(f"{source}: columns {first_column_of[name]!r} and {column!r} are both {name}; "
                            f"keep one of them")
        first_column_of[name] = column
        shape_columns.append((position, ARKIT_SHAPES.index(name)))
    return shape_columns


# --- reading ------------------------------------------------------------------------------------


def read_take(path: Path, fps: float | None = None) -> FaceTake:
    """Read a take in whichever format its content is: a Live Link Face CSV (header starting
    Timecode,BlendShapeCount), an Audio2Face JSON (an object with facsNames) or a plain CSV (first column frame or
    time). ``fps``: the rate of a Live Link Face timecode (default 60) or a plain CSV's frame column (default 30);
    an Audio2Face export has its own (exportFps) and ignores it."""
    path = Path(path)
    text = _read_text(path)
    if text.lstrip().startswith("{"):
        return _parse_audio2face(text, path.name)
    first_line = text.lstrip().splitlines()[0]
    first_cells = [cell.strip().lower() for cell in next(csv.reader([first_line]))]
    if first_cells[:2] == [column.lower() for column in LIVE_LINK_FACE_FIRST_COLUMNS]:
        return _parse_live_link_face(text, path.name, LIVE_LINK_FACE_DEFAULT_FPS if fps is None else fps)
    if first_cells[0] in _TIME_COLUMNS:
        return _parse_plain_csv(text, path.name, fps)
    raise TakeError(
        f"{path.name}: not a face take this add-on reads: expected a Live Link Face CSV (header starting "
        f"Timecode,BlendShapeCount), an Audio2Face blendshape JSON (an object with facsNames and weightMat), or a "
        f"CSV whose first column is frame or time followed by ARKit shape names; the file starts {first_line[:60]!r}"
    )


def read_live_link_face_csv(path: Path, fps: float = LIVE_LINK_FACE_DEFAULT_FPS) -> FaceTake:
    """A Live Link Face CSV; ``fps`` is the rate of its timecodes (the app's capture rate)."""
    path = Path(path)
    return _parse_live_link_face(_read_text(path), path.name, fps)


def read_audio2face_json(path: Path) -> FaceTake:
    """An Audio2Face blendshape export (its joints, rotations and translations are ignored)."""
    path = Path(path)
    return _parse_audio2face(_read_text(path), path.name)


def read_plain_csv(path: Path, fps: float | None = None) -> FaceTake:
    """A CSV of a ``frame`` (at ``fps``, default 30) or ``time`` (seconds) column, then ARKit shape columns."""
    path = Path(path)
    return _parse_plain_csv(_read_text(path), path.name, fps)


def _read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise TakeError(f"{path.name}: not a text file ({error.reason} at byte {error.start})") from None
    if not text.strip():
        raise TakeError(f"{path.name}: the file is empty")
    return text


def _parse_live_link_face(text: str, source: str, fps: float) -> FaceTake:
    _check_fps(fps)
    header, rows = _csv_rows(text, source)
    if [cell.lower() for cell in header[:2]] != [column.lower() for column in LIVE_LINK_FACE_FIRST_COLUMNS]:
        raise TakeError(f"{source}: the header must start with {','.join(LIVE_LINK_FACE_FIRST_COLUMNS)} (a Live "
                        f"Link Face CSV), not {','.join(header[:2])!r}")
    rotation_names = {name.lower() for name in LIVE_LINK_FACE_HEAD_COLUMNS + LIVE_LINK_FACE_EYE_COLUMNS}
    head_positions = _head_columns(header, source)
    shape_columns = _shape_columns(
        [(position, name) for position, name in enumerate(header) if position >= 2
         and name.lower() not in rotation_names], source)
    numbers = _number_matrix(header, rows, range(2, len(header)), source)
    times = _timecode_times(rows, fps, source)
    weights = _take_weights(numbers, shape_columns, header, _line_labels(rows), source)
    head = None if head_positions is None else numbers[:, head_positions] * LIVE_LINK_FACE_ROTATION_UNIT_RADIANS
    return FaceTake(float(fps), times, weights, head, LIVE_LINK_FACE_FORMAT)


def _head_columns(header: list[str], source: str) -> list[int] | None:
    """Positions of HeadYaw, HeadPitch, HeadRoll; None when the header has none of them."""
    lowered = [name.lower() for name in header]
    present = [name for name in LIVE_LINK_FACE_HEAD_COLUMNS if name.lower() in lowered]
    if not present:
        return None
    if len(present) < len(LIVE_LINK_FACE_HEAD_COLUMNS):
        missing = [name for name in LIVE_LINK_FACE_HEAD_COLUMNS if name not in present]
        raise TakeError(f"{source}: the header has {', '.join(present)} but not {', '.join(missing)}")
    return [lowered.index(name.lower()) for name in LIVE_LINK_FACE_HEAD_COLUMNS]


def _timecode_times(rows: list[tuple[int, list[str]]], fps: float, source: str) -> np.ndarray:
    """Seconds of each row's timecode after the first row's, after checking ``fps`` against the frame numbers."""
    timecodes = [_timecode(cells[0], line, source) for line, cells in rows]
    _check_timecode_rate(timecodes, rows, fps, source)
    # Relative whole seconds and frames apart, so the time of day's magnitude costs no precision.
    seconds = np.array([seconds for seconds, _, _ in timecodes], dtype=np.float64)
    frames = np.array([frame + fraction for _, frame, fraction in timecodes])
    times = (seconds - seconds[0]) + (frames - frames[0]) / fps
    _check_times_increase(times, rows, "timecode", source)
    return times


def _timecode(cell: str, line: int, source: str) -> tuple[int, int, float]:
    """(whole seconds of the day, frame number, fraction of a frame) of ``HH:MM:SS:FF.fff``."""
    match = _TIMECODE.fullmatch(cell.strip())
    if match is None:
        raise TakeError(f"{source}: line {line}: timecode {cell!r} is not HH:MM:SS:FF.fff (e.g. 12:27:47:47.169)")
    hours, minutes, seconds, frame = (int(part) for part in match.groups()[:4])
    if minutes > 59 or seconds > 59:
        raise TakeError(f"{source}: line {line}: timecode {cell!r} has minutes or seconds above 59")
    fraction = float(match.group(5)) if match.group(5) else 0.0
    return hours * 3600 + minutes * 60 + seconds, frame, fraction


def _check_timecode_rate(timecodes: list[tuple[int, int, float]], rows: list[tuple[int, list[str]]], fps: float,
                         source: str) -> None:
    """The timecode's frame numbers run 0..rate−1: refuse an ``fps`` they exceed, or that is at least twice what
    they reach over a whole recorded second."""
    frames = [frame for _, frame, _ in timecodes]
    highest = max(frames)
    line, cells = rows[frames.index(highest)]
    suggested = _suggested_rate(highest + 1)
    if highest >= math.ceil(fps - 1e-9):
        raise TakeError(
            f"{source}: line {line}: timecode {cells[0].strip()} counts frame {highest}, so the timecodes run at "
            f"{suggested} fps or more, not {fps:g}: read it with fps={suggested}"
        )
    whole_seconds = {seconds for seconds, _, _ in timecodes}
    spans_a_whole_second = len(whole_seconds) >= 3
    if spans_a_whole_second and highest + 1 <= fps / 2:
        raise TakeError(
            f"{source}: over {len(whole_seconds)} seconds the timecodes count frames only up to {highest}, so they "
            f"run at {suggested} fps, not {fps:g}: read it with fps={suggested}"
        )


def _suggested_rate(frames_per_second: int) -> int:
    return next((rate for rate in COMMON_FRAME_RATES if rate >= frames_per_second), frames_per_second)


def _parse_audio2face(text: str, source: str) -> FaceTake:
    try:
        export = json.loads(text)
    except json.JSONDecodeError as error:
        raise TakeError(f"{source}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(export, dict) or "facsNames" not in export:
        raise TakeError(f"{source}: not an Audio2Face blendshape export: expected a JSON object with exportFps, "
                        f"facsNames and weightMat")
    for key in ("exportFps", "facsNames", "weightMat"):
        if key not in export:
            raise TakeError(f"{source}: the Audio2Face export has no {key}")
    fps = export["exportFps"]
    if isinstance(fps, bool) or not isinstance(fps, Real) or not math.isfinite(fps) or fps <= 0:
        raise TakeError(f"{source}: exportFps must be a number above zero, not {fps!r}")
    names = export["facsNames"]
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise TakeError(f"{source}: facsNames must be a list of shape names")
    matrix = _audio2face_matrix(export, len(names), source)
    shape_columns = _shape_columns(list(enumerate(names)), source)
    times = np.arange(len(matrix)) / float(fps)
    row_labels = [f"weightMat row {number}" for number in range(1, len(matrix) + 1)]
    weights = _take_weights(matrix, shape_columns, names, row_labels, source)
    return FaceTake(float(fps), times, weights, None, AUDIO2FACE_FORMAT)


def _audio2face_matrix(export: dict, pose_count: int, source: str) -> np.ndarray:
    """weightMat as a (numFrames, numPoses) array, checked against numFrames, numPoses and facsNames."""
    matrix = export["weightMat"]
    if not isinstance(matrix, list) or not all(isinstance(row, list) for row in matrix):
        raise TakeError(f"{source}: weightMat must be a list of rows (one per frame)")
    if not matrix:
        raise TakeError(f"{source}: weightMat has no frames")
    if export.get("numPoses", pose_count) != pose_count:
        raise TakeError(f"{source}: numPoses is {export['numPoses']!r} but facsNames has {pose_count} names")
    if export.get("numFrames", len(matrix)) != len(matrix):
        raise TakeError(f"{source}: numFrames is {export['numFrames']!r} but weightMat has {len(matrix)} rows")
    for number, row in enumerate(matrix, start=1):
        if len(row) != pose_count:
            raise TakeError(f"{source}: weightMat row {number} has {len(row)} weights; facsNames has {pose_count}")
        for column, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise TakeError(f"{source}: weightMat row {number}, {export['facsNames'][column]}: {value!r} is "
                                f"not a number")
    return np.array(matrix, dtype=np.float64).reshape(len(matrix), pose_count)


def _parse_plain_csv(text: str, source: str, fps: float | None) -> FaceTake:
    if fps is not None:
        _check_fps(fps)
    header, rows = _csv_rows(text, source)
    time_column = header[0].lower()
    if time_column not in _TIME_COLUMNS:
        raise TakeError(f"{source}: the header's first column must be frame or time (seconds), not {header[0]!r}")
    shape_columns = _shape_columns(list(enumerate(header))[1:], source)
    numbers = _number_matrix(header, rows, range(len(header)), source)
    first = numbers[:, 0]
    _check_times_increase(first - first[0], rows, time_column, source)
    if time_column == "frame":
        fps = PLAIN_CSV_DEFAULT_FPS if fps is None else fps
        times = (first - first[0]) / fps
    else:
        times = first - first[0]
        fps = fps if fps is not None else _rate_of(times)
    weights = _take_weights(numbers, shape_columns, header, _line_labels(rows), source)
    return FaceTake(float(fps), times, weights, None, PLAIN_CSV_FORMAT)


def _rate_of(times: np.ndarray) -> float:
    """The frame rate of frames at ``times``: from their typical spacing."""
    if len(times) < 2:
        return PLAIN_CSV_DEFAULT_FPS
    return round(1.0 / float(np.median(np.diff(times))), 3)


# --- shared CSV checks --------------------------------------------------------------------------


def _csv_rows(text: str, source: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header's cells and each data row as (line number, cells), cells stripped; blank lines skipped."""
    reader = csv.reader(io.StringIO(text))
    header = None
    rows = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        cells = [cell.strip() for cell in cells]
        if header is None:
            header = cells
        elif len(cells) != len(header):
            raise TakeError(f"{source}: line {reader.line_num} has {len(cells)} columns; the header has "
                            f"{len(header)}")
        else:
            rows.append((reader.line_num, cells))
    if header is None:
        raise TakeError(f"{source}: the file is empty")
    if _is_number(header[0]):
        raise TakeError(f"{source}: the first line is numbers, not a header naming the columns")
    if not rows:
        raise TakeError(f"{source}: the file has a header but no frames")
    return header, rows


def _number_matrix(header: list[str], rows: list[tuple[int, list[str]]], columns: range,
                   source: str) -> np.ndarray:
    """(T, len(header)) floats of ``columns`` (other columns stay 0), each cell checked to be a finite number."""
    matrix = np.zeros((len(rows), len(header)))
    for row_index, (line, cells) in enumerate(rows):
        for column in columns:
            if not _is_number(cells[column]):
                raise TakeError(f"{source}: line {line}, column {header[column]}: {cells[column]!r} is not a number")
            matrix[row_index, column] = float(cells[column])
    return matrix


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _check_times_increase(times: np.ndarray, rows: list[tuple[int, list[str]]], what: str, source: str) -> None:
    not_later = np.flatnonzero(np.diff(times) <= 0)
    if len(not_later):
        index = int(not_later[0]) + 1
        raise TakeError(f"{source}: line {rows[index][0]}: the {what} {rows[index][1][0]} is not after the previous "
                        f"line's ({rows[index - 1][1][0]})")


def _line_labels(rows: list[tuple[int, list[str]]]) -> list[str]:
    return [f"line {line}" for line, _ in rows]


def _take_weights(numbers: np.ndarray, shape_columns: list[tuple[int, int]], names: list[str],
                  row_labels: list[str], source: str) -> np.ndarray:
    """(T, 52) weights in ARKIT_SHAPES order from the file's shape columns (``numbers``' columns, named by
    ``names``), checked to be in 0..1 (clamped within WEIGHT_TOLERANCE); ``row_labels`` name each row."""
    weights = np.zeros((len(numbers), len(ARKIT_SHAPES)))
    for position, shape in shape_columns:
        column = numbers[:, position]
        outside = np.flatnonzero((column < -WEIGHT_TOLERANCE) | (column > 1.0 + WEIGHT_TOLERANCE))
        if len(outside):
            row = int(outside[0])
            raise TakeError(f"{source}: {row_labels[row]}, column {names[position]}: weight "
                            f"{column[row]:g} is outside 0..1")
        weights[:, shape] = np.clip(column, 0.0, 1.0)
    return weights


def _check_fps(fps: float) -> None:
    if isinstance(fps, bool) or not isinstance(fps, Real) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a number above zero, e.g. 30 or 60 (got {fps!r})")


# --- sampling -----------------------------------------------------------------------------------


def sample_take(take: FaceTake, fps: float, start_frame: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The take at every frame of a scene running at ``fps``: (F,) frame numbers from ``start_frame`` (the take's
    0 s) and (F, 52) weights, linearly interpolated between the take's frames. The last frame is the one nearest
    the take's end (a half frame rounds up). At the take's own rate, with no dropped frames, the weights are the
    file's."""
    frames, times = _scene_frames(take, fps, start_frame)
    weights = np.column_stack([np.interp(times, take.frame_times_s, take.weights[:, shape])
                               for shape in range(len(ARKIT_SHAPES))])
    return frames, weights


def sample_head_rotation(take: FaceTake, fps: float, start_frame: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """As sample_take, for the head's (yaw, pitch, roll) in radians: (F,) frames and (F, 3) angles."""
    if take.head_rotation is None:
        raise ValueError(f"this {take.source_format} take has no head rotation")
    frames, times = _scene_frames(take, fps, start_frame)
    angles = np.column_stack([np.interp(times, take.frame_times_s, take.head_rotation[:, axis])
                              for axis in range(3)])
    return frames, angles


def _scene_frames(take: FaceTake, fps: float, start_frame: int) -> tuple[np.ndarray, np.ndarray]:
    _check_fps(fps)
    # The inner round() absorbs float error, so a take ending exactly on a frame keeps that frame.
    count = math.floor(round(take.duration_s * fps, 6) + 0.5) + 1
    steps = np.arange(count)
    return steps + int(start_frame), steps / fps
