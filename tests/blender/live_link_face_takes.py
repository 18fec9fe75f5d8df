"""Live Link Face takes written by the tests: the app's published CSV header (its 52 blendshape columns, a few in
another order than ARKit's documentation, then the head and eye rotations) with random values."""
import numpy as np

from addon.core.face_takes import arkit_name

LLF_SHAPE_COLUMNS = (
    "EyeBlinkLeft,EyeLookDownLeft,EyeLookInLeft,EyeLookOutLeft,EyeLookUpLeft,EyeSquintLeft,EyeWideLeft,EyeBlinkRight,"
    "EyeLookDownRight,EyeLookInRight,EyeLookOutRight,EyeLookUpRight,EyeSquintRight,EyeWideRight,JawForward,JawRight,"
    "JawLeft,JawOpen,MouthClose,MouthFunnel,MouthPucker,MouthRight,MouthLeft,MouthSmileLeft,MouthSmileRight,"
    "MouthFrownLeft,MouthFrownRight,MouthDimpleLeft,MouthDimpleRight,MouthStretchLeft,MouthStretchRight,"
    "MouthRollLower,MouthRollUpper,MouthShrugLower,MouthShrugUpper,MouthPressLeft,MouthPressRight,"
    "MouthLowerDownLeft,MouthLowerDownRight,MouthUpperUpLeft,MouthUpperUpRight,BrowDownLeft,BrowDownRight,"
    "BrowInnerUp,BrowOuterUpLeft,BrowOuterUpRight,CheekPuff,CheekSquintLeft,CheekSquintRight,NoseSneerLeft,"
    "NoseSneerRight,TongueOut"
).split(",")
LLF_ROTATION_COLUMNS = ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                        "RightEyeYaw", "RightEyePitch", "RightEyeRoll"]


def write_llf_take(path, timecodes, seed=0):
    """A Live Link Face CSV (the app's header) with random weights and head rotation; returns {ARKit name or
    rotation column: the values as read back from the text}."""
    rng = np.random.default_rng(seed)
    header = ["Timecode", "BlendShapeCount", *LLF_SHAPE_COLUMNS, *LLF_ROTATION_COLUMNS]
    cells = [[f"{value:.10f}" for value in rng.uniform(0, 1, len(LLF_SHAPE_COLUMNS))]
             + [f"{value:.10f}" for value in rng.uniform(-0.1, 0.1, len(LLF_ROTATION_COLUMNS))]
             for _ in timecodes]
    lines = [",".join(header)] + [",".join([timecode, "61", *row]) for timecode, row in zip(timecodes, cells,
                                                                                          strict=True)]
    path.write_text("\n".join(lines) + "\n")
    names = [arkit_name(column) for column in LLF_SHAPE_COLUMNS] + LLF_ROTATION_COLUMNS
    return {name: [float(row[index]) for row in cells] for index, name in enumerate(names)}


def timecodes_at_30(count, first_frame=20):
    """``count`` consecutive 30 fps timecodes from 00:00:05 frame ``first_frame``, across the next second."""
    frames = [first_frame + index for index in range(count)]
    return [f"00:00:{5 + frame // 30:02d}:{frame % 30:02d}.000" for frame in frames]
