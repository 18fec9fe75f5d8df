"""Face takes read from Live Link Face CSVs, Audio2Face JSON exports and plain CSVs, and sampled at a scene rate."""
import json
import math

import numpy as np
import pytest

from addon.core.arkit import ARKIT_SHAPES
from addon.core.errors import PromptFaceError, TakeError
from addon.core.face_takes import (
    ARKIT_ALIASES,
    AUDIO2FACE_FORMAT,
    LIVE_LINK_FACE_FORMAT,
    LIVE_LINK_FACE_ROTATION_UNIT_RADIANS,
    PLAIN_CSV_FORMAT,
    FaceTake,
    arkit_name,
    read_audio2face_json,
    read_live_link_face_csv,
    read_plain_csv,
    read_take,
    sample_head_rotation,
    sample_take,
)

# Live Link Face's header as the app writes it (note JawRight before JawLeft and MouthRight before MouthLeft).
LLF_HEADER = (
    "Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,EyeLookInLeft,EyeLookOutLeft,EyeLookUpLeft,"
    "EyeSquintLeft,EyeWideLeft,EyeBlinkRight,EyeLookDownRight,EyeLookInRight,EyeLookOutRight,EyeLookUpRight,"
    "EyeSquintRight,EyeWideRight,JawForward,JawRight,JawLeft,JawOpen,MouthClose,MouthFunnel,MouthPucker,MouthRight,"
    "MouthLeft,MouthSmileLeft,MouthSmileRight,MouthFrownLeft,MouthFrownRight,MouthDimpleLeft,MouthDimpleRight,"
    "MouthStretchLeft,MouthStretchRight,MouthRollLower,MouthRollUpper,MouthShrugLower,MouthShrugUpper,"
    "MouthPressLeft,MouthPressRight,MouthLowerDownLeft,MouthLowerDownRight,MouthUpperUpLeft,MouthUpperUpRight,"
    "BrowDownLeft,BrowDownRight,BrowInnerUp,BrowOuterUpLeft,BrowOuterUpRight,CheekPuff,CheekSquintLeft,"
    "CheekSquintRight,NoseSneerLeft,NoseSneerRight,TongueOut,HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,"
    "LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll"
).split(",")
LLF_SHAPES = LLF_HEADER[2:54]


def llf_text(timecodes, seed=0):
    """A Live Link Face CSV with a row per timecode, random weights and rotations written as the app does (ten
    decimals); returns (text, {column: the values as written, read back as floats})."""
    rng = np.random.default_rng(seed)
    columns = {name: rng.uniform(0, 1, len(timecodes)) for name in LLF_SHAPES}
    columns.update({name: rng.uniform(-0.2, 0.2, len(timecodes)) for name in LLF_HEADER[54:]})
    written = {name: [f"{value:.10f}" for value in values] for name, values in columns.items()}
    lines = [",".join(LLF_HEADER)]
    for row, timecode in enumerate(timecodes):
        lines.append(",".join([timecode, "61"] + [written[name][row] for name in LLF_HEADER[2:]]))
    return "\n".join(lines) + "\n", {name: [float(cell) for cell in cells] for name, cells in written.items()}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def plain_csv(header, rows):
    return "\n".join([",".join(header)] + [",".join(str(cell) for cell in row) for row in rows]) + "\n"


def weight(take, name):
    return take.weights[:, ARKIT_SHAPES.index(name)]


# --- Live Link Face -----------------------------------------------------------------------------


def test_a_live_link_face_csv_reads_back_exactly(tmp_path):
    text, written = llf_text(["14:05:09:10.000", "14:05:09:11.000", "14:05:09:12.000", "14:05:09:13.000"])
    take = read_take(write(tmp_path, "take.csv", text))
    assert (take.fps, take.source_format) == (60.0, LIVE_LINK_FACE_FORMAT)
    assert take.frame_times_s == pytest.approx([0, 1 / 60, 2 / 60, 3 / 60], abs=1e-12)
    assert take.weights.shape == (4, 52)
    for column in LLF_SHAPES:
        assert weight(take, arkit_name(column)).tolist() == written[column], column
    head = [written[name] for name in ("HeadYaw", "HeadPitch", "HeadRoll")]
    assert take.head_rotation.tolist() == (np.array(head).T * LIVE_LINK_FACE_ROTATION_UNIT_RADIANS).tolist()


def test_live_link_face_columns_map_by_name_not_position(tmp_path):
    text, written = llf_text(["00:00:00:00.000"])
    take = read_live_link_face_csv(write(tmp_path, "take.csv", text))
    assert weight(take, "jawLeft").tolist() == written["JawLeft"]
    assert weight(take, "jawRight").tolist() == written["JawRight"]
    assert weight(take, "mouthLeft").tolist() == written["MouthLeft"]


def test_head_rotation_is_in_half_turns():
    assert LIVE_LINK_FACE_ROTATION_UNIT_RADIANS == math.pi


def test_dropped_frames_keep_their_timecode_timing(tmp_path):
    # Frames 12 and 13 are missing; the last row crosses into the next second; .5 is half a frame late.
    timecodes = ["01:00:00:10.000", "01:00:00:11.000", "01:00:00:14.000", "01:00:00:59.500", "01:00:01:00.000"]
    take = read_take(write(tmp_path, "take.csv", llf_text(timecodes)[0]))
    assert take.frame_times_s == pytest.approx(np.array([0, 1, 4, 49.5, 50]) / 60, abs=1e-12)


def test_the_timecode_rate_is_a_parameter(tmp_path):
    path = write(tmp_path, "take.csv", llf_text(["00:00:00:28.000", "00:00:00:29.000"])[0])
    assert read_take(path, fps=30).frame_times_s == pytest.approx([0, 1 / 30])
    assert read_live_link_face_csv(path, fps=30).fps == 30.0


def test_a_timecode_frame_beyond_the_given_rate_names_the_rate(tmp_path):
    path = write(tmp_path, "take.csv", llf_text(["00:00:00:58.000", "00:00:00:59.000"])[0])
    with pytest.raises(TakeError, match=r"take.csv: line 3: timecode 00:00:00:59.000 counts frame 59, so the "
                                        r"timecodes run at 60 fps or more, not 30: read it with fps=60"):
        read_take(path, fps=30)


def test_a_rate_twice_what_the_timecodes_reach_is_refused(tmp_path):
    timecodes = [f"00:00:{second:02d}:{frame:02d}.000" for second in range(3) for frame in range(30)]
    path = write(tmp_path, "take.csv", llf_text(timecodes)[0])
    with pytest.raises(TakeError, match=r"count frames only up to 29, so they run at 30 fps, not 60: read it with "
                                        r"fps=30"):
        read_take(path)
    assert read_take(path, fps=30).duration_s == pytest.approx(89 / 30)


def test_a_live_link_face_csv_without_head_columns_has_no_head_rotation(tmp_path):
    header = LLF_HEADER[:54]
    text = plain_csv(header, [["00:00:00:00.000", 52] + [0.5] * 52])
    take = read_take(write(tmp_path, "take.csv", text))
    assert take.head_rotation is None
    assert set(take.weights[0]) == {0.5}


@pytest.mark.parametrize("timecode, message", [
    ("12:27:47", r"line 3: timecode '12:27:47' is not HH:MM:SS:FF.fff"),
    ("12:27:47:xx.1", r"line 3: timecode '12:27:47:xx.1' is not HH:MM:SS:FF.fff"),
    ("12:61:47:00.0", r"line 3: timecode '12:61:47:00.0' has minutes or seconds above 59"),
    ("00:00:00:01.000", r"line 3: the timecode 00:00:00:01.000 is not after the previous line's \(00:00:00:01.000\)"),
])
def test_bad_timecodes_are_named(tmp_path, timecode, message):
    path = write(tmp_path, "take.csv", llf_text(["00:00:00:01.000", timecode])[0])
    with pytest.raises(TakeError, match=message):
        read_take(path)


def test_a_live_link_face_header_is_required_by_its_reader(tmp_path):
    path = write(tmp_path, "take.csv", plain_csv(["frame", "jawOpen"], [[1, 0.5]]))
    with pytest.raises(TakeError, match=r"take.csv: the header must start with Timecode,BlendShapeCount"):
        read_live_link_face_csv(path)


# --- Audio2Face ---------------------------------------------------------------------------------


def a2f_export(**changes):
    export = {"exportFps": 30, "trackPath": "/World/audio2face/Player", "numPoses": 3, "numFrames": 2,
              "facsNames": ["jawOpen", "eyeBlinkLeft", "mouthSmileRight"],
              "weightMat": [[0.1, 0.2, 0.3], [0.4, 0.5, 1.0]],
              "joints": ["jaw"], "rotations": [[[0, 0, 0, 1]], [[0, 0, 0, 1]]], "translations": [[[0, 0, 0]]] * 2}
    export.update(changes)
    return export


def test_an_audio2face_export_reads_its_weights_at_its_rate(tmp_path):
    take = read_take(write(tmp_path, "a2f.json", json.dumps(a2f_export())))
    assert (take.fps, take.source_format, take.head_rotation) == (30.0, AUDIO2FACE_FORMAT, None)
    assert take.frame_times_s.tolist() == [0, 1 / 30]
    assert weight(take, "jawOpen").tolist() == [0.1, 0.4]
    assert weight(take, "eyeBlinkLeft").tolist() == [0.2, 0.5]
    assert weight(take, "mouthSmileRight").tolist() == [0.3, 1.0]
    assert np.count_nonzero(take.weights) == 6
    assert read_audio2face_json(tmp_path / "a2f.json").weights.tolist() == take.weights.tolist()


@pytest.mark.parametrize("changes, message", [
    ({"numFrames": 3}, r"numFrames is 3 but weightMat has 2 rows"),
    ({"numPoses": 4}, r"numPoses is 4 but facsNames has 3 names"),
    ({"weightMat": [[0.1, 0.2, 0.3], [0.4, 0.5]]}, r"weightMat row 2 has 2 weights; facsNames has 3"),
    ({"weightMat": [[0.1, "x", 0.3], [0.4, 0.5, 0.6]]}, r"weightMat row 1, eyeBlinkLeft: 'x' is not a number"),
    ({"weightMat": [[0.1, 0.2, 0.3], [0.4, 1.5, 0.6]]}, r"weightMat row 2, column eyeBlinkLeft: weight 1.5 is "
                                                        r"outside 0..1"),
    ({"weightMat": [], "numFrames": 0}, r"weightMat has no frames"),
    ({"exportFps": 0}, r"exportFps must be a number above zero"),
    ({"facsNames": ["jawOpen", "eyeBlinkLeft", "jawOpen"]}, r"columns 'jawOpen' and 'jawOpen' are both jawOpen"),
    ({"facsNames": ["jawOpen", "eyeBlinkLeft", "grin"]}, r"column 'grin' is not an ARKit blendshape"),
])
def test_a_malformed_audio2face_export_is_named(tmp_path, changes, message):
    path = write(tmp_path, "a2f.json", json.dumps(a2f_export(**changes)))
    with pytest.raises(TakeError, match=rf"a2f.json: {message}"):
        read_take(path)


def test_an_audio2face_export_needs_its_keys(tmp_path):
    export = a2f_export()
    del export["exportFps"]
    with pytest.raises(TakeError, match=r"a2f.json: the Audio2Face export has no exportFps"):
        read_take(write(tmp_path, "a2f.json", json.dumps(export)))


def test_json_that_is_not_an_audio2face_export_is_named(tmp_path):
    with pytest.raises(TakeError, match=r"x.json: not valid JSON \(Expecting"):
        read_take(write(tmp_path, "x.json", "{not json"))
    with pytest.raises(TakeError, match=r"x.json: not an Audio2Face blendshape export: expected a JSON object with "
                                        r"exportFps, facsNames and weightMat"):
        read_take(write(tmp_path, "x.json", '{"frames": []}'))


# --- plain CSV ----------------------------------------------------------------------------------


def test_a_plain_csv_of_frames_is_at_30_fps_unless_told(tmp_path):
    path = write(tmp_path, "take.csv", plain_csv(["frame", "jawOpen", "eyeBlink_L"], [[1, 0.2, 0.0], [2, 0.4, 1],
                                                                                     [4, 0.6, 0.5]]))
    take = read_take(path)
    assert (take.fps, take.source_format, take.head_rotation) == (30.0, PLAIN_CSV_FORMAT, None)
    assert take.frame_times_s == pytest.approx([0, 1 / 30, 3 / 30])
    assert weight(take, "jawOpen").tolist() == [0.2, 0.4, 0.6]
    assert weight(take, "eyeBlinkLeft").tolist() == [0.0, 1.0, 0.5]
    assert read_plain_csv(path, fps=24).frame_times_s == pytest.approx([0, 1 / 24, 3 / 24])


def test_a_plain_csv_of_times_is_in_seconds(tmp_path):
    path = write(tmp_path, "take.csv", plain_csv(["time", "blendShapes.mouthSmileLeft", "_neutral"],
                                                 [[0.5, 0.1, 0.9], [0.52, 0.3, 0.7], [0.54, 0.2, 0.8]]))
    take = read_take(path)
    assert take.frame_times_s == pytest.approx([0, 0.02, 0.04])
    assert take.fps == pytest.approx(50)
    assert weight(take, "mouthSmileLeft").tolist() == [0.1, 0.3, 0.2]
    assert np.count_nonzero(take.weights) == 3  # _neutral is left out


def test_a_plain_csv_needs_a_frame_or_time_column(tmp_path):
    path = write(tmp_path, "take.csv", plain_csv(["jawOpen", "frame"], [[0.5, 1]]))
    with pytest.raises(TakeError, match=r"take.csv: the header's first column must be frame or time"):
        read_plain_csv(path)
    with pytest.raises(TakeError, match=r"take.csv: not a face take this add-on reads: expected a Live Link Face "
                                        r"CSV .*, an Audio2Face blendshape JSON .*, or a CSV whose first column is "
                                        r"frame or time"):
        read_take(path)


def test_plain_csv_frames_must_increase(tmp_path):
    path = write(tmp_path, "take.csv", plain_csv(["frame", "jawOpen"], [[1, 0.5], [3, 0.5], [2, 0.5]]))
    with pytest.raises(TakeError, match=r"take.csv: line 4: the frame 2 is not after the previous line's \(3\)"):
        read_take(path)


# --- column names -------------------------------------------------------------------------------


@pytest.mark.parametrize("variant, name", sorted(ARKIT_ALIASES.items()))
def test_every_alias_in_the_table_names_its_shape(variant, name):
    assert arkit_name(variant) == name
    assert arkit_name(variant.upper()) == name
    assert arkit_name(f"blendShape2.{variant}") == name


@pytest.mark.parametrize("column, name", [
    ("eyeBlinkLeft", "eyeBlinkLeft"),  # ARKit
    ("EyeBlinkLeft", "eyeBlinkLeft"),  # Live Link Face
    ("eyeBlink_L", "eyeBlinkLeft"),  # ICT / Meta
    ("eyeBlink_R", "eyeBlinkRight"),
    ("eyeBlink_l", "eyeBlinkLeft"),
    ("eyeBlink_r", "eyeBlinkRight"),
    ("eyeBlink_Left", "eyeBlinkLeft"),
    ("eyeblinkright", "eyeBlinkRight"),
    ("EYEBLINKLEFT", "eyeBlinkLeft"),
    ("jaw_L", "jawLeft"),
    ("mouth_R", "mouthRight"),
    ("blendShape2.eyeBlinkLeft", "eyeBlinkLeft"),
    ("blendShapes.JawOpen", "jawOpen"),
    ("a.b.tongueOut", "tongueOut"),
    (" cheekPuff ", "cheekPuff"),
    ("_neutral", None),  # MediaPipe's rest category
    ("blendShapes._neutral", None),
])
def test_column_name_variants(column, name):
    assert arkit_name(column) == name


def test_the_table_covers_every_shape_and_both_sides():
    assert set(ARKIT_ALIASES.values()) == set(ARKIT_SHAPES)
    sided = [name for name in ARKIT_SHAPES if name.endswith(("Left", "Right"))]
    assert len(ARKIT_ALIASES) == len(ARKIT_SHAPES) + 2 * len(sided)


def test_an_unknown_column_is_named_with_what_is_accepted():
    with pytest.raises(TakeError, match=r"column 'smileBig' is not an ARKit blendshape: expected one of the 52 ARKit "
                                        r"names .* _L/_R side suffix \(eyeBlink_L\) or a dotted prefix"):
        arkit_name("smileBig")
    with pytest.raises(ValueError):  # a TakeError is a ValueError and a PromptFaceError
        arkit_name("eyeBlink")
    assert issubclass(TakeError, PromptFaceError)


def test_an_unknown_column_in_a_file_names_the_file_and_column(tmp_path):
    path = write(tmp_path, "take.csv", plain_csv(["frame", "jawOpen", "smileBig"], [[1, 0.5, 0.5]]))
    with pytest.raises(TakeError, match=r"take.csv: column 'smileBig' is not an ARKit blendshape"):
        read_take(path)


def test_duplicate_columns_after_aliasing_are_refused(tmp_path):
    path = write(tmp_path, "take.csv", plain_csv(["frame", "eyeBlinkLeft", "eyeBlink_L"], [[1, 0.5, 0.5]]))
    with pytest.raises(TakeError, match=r"take.csv: columns 'eyeBlinkLeft' and 'eyeBlink_L' are both eyeBlinkLeft"):
        read_take(path)


# --- malformed files ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("", r"take.csv: the file is empty"),
    ("\n  \n", r"take.csv: the file is empty"),
    ("frame,jawOpen\n", r"take.csv: the file has a header but no frames"),
    ("frame,jawOpen\n1,0.5\n2\n", r"take.csv: line 3 has 1 columns; the header has 2"),
    ("frame,jawOpen\n1,0.5\n2,abc\n", r"take.csv: line 3, column jawOpen: 'abc' is not a number"),
    ("frame,jawOpen\n1,0.5\n2,\n", r"take.csv: line 3, column jawOpen: '' is not a number"),
    ("frame,jawOpen\n1,nan\n", r"take.csv: line 2, column jawOpen: 'nan' is not a number"),
    ("frame,jawOpen\n1,0.5\n2,1.5\n", r"take.csv: line 3, column jawOpen: weight 1.5 is outside 0..1"),
    ("frame,jawOpen\n1,-0.2\n", r"take.csv: line 2, column jawOpen: weight -0.2 is outside 0..1"),
])
def test_malformed_csv_files_are_named(tmp_path, text, message):
    with pytest.raises(TakeError, match=message):
        read_take(write(tmp_path, "take.csv", text))


def test_a_headerless_csv_is_named(tmp_path):
    with pytest.raises(TakeError, match=r"take.csv: the first line is numbers, not a header"):
        read_plain_csv(write(tmp_path, "take.csv", "1,0.5\n2,0.6\n"))


def test_weights_just_outside_0_to_1_are_clamped(tmp_path):
    take = read_take(write(tmp_path, "take.csv", "frame,jawOpen\n1,-0.004\n2,1.006\n3,0.5\n"))
    assert weight(take, "jawOpen").tolist() == [0.0, 1.0, 0.5]


def test_a_malformed_live_link_face_row_is_named(tmp_path):
    text, _ = llf_text(["00:00:00:01.000", "00:00:00:02.000"])
    lines = text.splitlines()
    cells = lines[2].split(",")
    cells[LLF_HEADER.index("JawOpen")] = "open"
    path = write(tmp_path, "take.csv", "\n".join([lines[0], lines[1], ",".join(cells)]))
    with pytest.raises(TakeError, match=r"take.csv: line 3, column JawOpen: 'open' is not a number"):
        read_take(path)
    path = write(tmp_path, "take.csv", "\n".join([lines[0], lines[1], ",".join(cells[:-1])]))
    with pytest.raises(TakeError, match=r"take.csv: line 3 has 62 columns; the header has 63"):
        read_take(path)


# --- sampling -----------------------------------------------------------------------------------


def take_of(times, jaw_open, fps=30.0, head=None):
    weights = np.zeros((len(times), 52))
    weights[:, ARKIT_SHAPES.index("jawOpen")] = jaw_open
    return FaceTake(fps, np.array(times, dtype=float), weights, head, PLAIN_CSV_FORMAT)


def test_sampling_at_the_take_rate_gives_the_file_values(tmp_path):
    text, written = llf_text([f"00:00:01:{frame:02d}.000" for frame in range(40, 60)] + ["00:00:02:00.000"])
    take = read_take(write(tmp_path, "take.csv", text))
    frames, weights = sample_take(take, 60)
    assert frames.tolist() == list(range(1, 22))
    for column in LLF_SHAPES:
        assert weights[:, ARKIT_SHAPES.index(arkit_name(column))] == pytest.approx(written[column], abs=1e-12)


def test_sampling_interpolates_dropped_frames_and_other_rates():
    take = take_of([0, 1 / 30, 3 / 30], [0.0, 0.3, 0.9])
    frames, weights = sample_take(take, 30)
    assert frames.tolist() == [1, 2, 3, 4]
    assert weight_column(weights) == pytest.approx([0.0, 0.3, 0.6, 0.9])
    frames, weights = sample_take(take, 60, start_frame=10)
    assert frames.tolist() == list(range(10, 17))
    assert weight_column(weights) == pytest.approx([0.0, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9])


def weight_column(weights):
    return weights[:, ARKIT_SHAPES.index("jawOpen")].tolist()


def test_the_last_sampled_frame_is_the_one_nearest_the_take_end():
    take = take_of([0, 0.1], [0.0, 1.0])
    assert sample_take(take, 24)[0].tolist() == [1, 2, 3]  # 0.1 s is 2.4 frames after the first
    assert sample_take(take, 30)[0].tolist() == [1, 2, 3, 4]
    assert sample_take(take, 25)[0].tolist() == [1, 2, 3, 4]  # 2.5 frames: half frames round up
    assert sample_take(take_of([0.0], [0.5]), 24)[0].tolist() == [1]


def test_head_rotation_is_sampled_like_the_weights():
    take = take_of([0, 2 / 30], [0.0, 0.0], head=[[0.0, 0.2, -0.2], [0.2, 0.0, 0.2]])
    frames, angles = sample_head_rotation(take, 30)
    assert frames.tolist() == [1, 2, 3]
    assert angles == pytest.approx(np.array([[0.0, 0.2, -0.2], [0.1, 0.1, 0.0], [0.2, 0.0, 0.2]]))
    with pytest.raises(ValueError, match="has no head rotation"):
        sample_head_rotation(take_of([0.0], [0.5]), 30)


@pytest.mark.parametrize("fps", [0, -24, math.nan, True])
def test_sampling_needs_a_positive_rate(fps):
    with pytest.raises(ValueError, match="fps must be a number above zero"):
        sample_take(take_of([0.0], [0.5]), fps)


def test_a_take_checks_its_arrays():
    with pytest.raises(ValueError, match=r"\(T,\) times and \(T, 52\) weights"):
        FaceTake(30.0, np.zeros(2), np.zeros((2, 51)), None, PLAIN_CSV_FORMAT)
    with pytest.raises(ValueError, match="must start at 0 and increase"):
        FaceTake(30.0, np.array([0.0, 0.0]), np.zeros((2, 52)), None, PLAIN_CSV_FORMAT)
