"""The drawn mouth interior: teeth under the upper lip, a dark cavity, colours from the photo, lips untouched."""
import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt

from backend.action_units import CHIN, LOWER_LIP_INNER, LOWER_LIP_OUTER
from backend.calibration import polygon_mask
from backend.editors.mouth_drawing import cut_photo_teeth, draw_mouth_interior, mouth_frame

# Inner-lip loop points beside the corners (not in LOWER_LIP_INNER): they open half as far.
LOWER_INNER_BESIDE_CORNERS = (95, 324)
LUMINANCE = np.array([0.299, 0.587, 0.114])


def _face_width(landmarks):
    return float(np.linalg.norm(landmarks[454, :2] - landmarks[234, :2]))


@pytest.fixture(scope="module")
def closed_and_opened(subject):
    """(closed, opened) landmarks: the astronaut's lips closed (the lower inner lip laid on the upper one),
    then the jaw opened: lower lip and chin down by 8 % of the face width."""
    loop = subject.topology.mouth_loop
    closed = subject.landmarks_px.copy()
    frame = mouth_frame(closed[loop, :2])
    lower_inner = sorted(set(LOWER_LIP_INNER[0] + LOWER_LIP_INNER[1]) | set(LOWER_INNER_BESIDE_CORNERS))
    for index in lower_inner:
        u = frame.to_local(closed[index, :2])[0]
        closed[index, :2] = frame.to_pixels(u, frame.upper_v(u) + 0.3)
    opened = closed.copy()
    drop = 0.08 * _face_width(closed)
    for index in lower_inner + sorted(set(LOWER_LIP_OUTER[0] + LOWER_LIP_OUTER[1])) + list(CHIN):
        opened[index, 1] += drop * (0.5 if index in LOWER_INNER_BESIDE_CORNERS else 1.0)
    return closed, opened


def _luminance(image):
    return image.astype(float) @ LUMINANCE


def _inside(subject, landmarks):
    return polygon_mask(landmarks[subject.topology.mouth_loop, :2], subject.crop.shape[0])


def test_teeth_under_the_upper_lip_are_brighter_than_the_cavity_below(subject, closed_and_opened):
    closed, opened = closed_and_opened
    drawn = draw_mouth_interior(subject.crop, closed, opened, subject.topology.mouth_loop)
    inside = _inside(subject, opened)
    lips = opened[subject.topology.mouth_loop, :2]
    width = lips[:, 0].max() - lips[:, 0].min()
    centre = lips[:, 0].mean()
    luminance = _luminance(drawn)
    teeth, cavity = [], []
    for column in range(int(centre - 0.2 * width), int(centre + 0.2 * width)):
        rows = np.flatnonzero(inside[:, column])
        top, bottom = rows[0], rows[-1]
        teeth.append(luminance[top + 2:top + 2 + int(0.07 * width), column].mean())
        cavity.append(luminance[top + int(0.22 * width):bottom - int(0.04 * width), column].mean())
    assert np.mean(teeth) > np.mean(cavity) + 40
    assert np.mean(cavity) < 80  # a dark mouth, not the stretched photo


def test_a_grey_photo_gives_a_grey_mouth(subject, closed_and_opened):
    closed, opened = closed_and_opened
    grey = np.repeat(np.rint(_luminance(subject.crop)).astype(np.uint8)[..., None], 3, axis=2)
    drawn = draw_mouth_interior(grey, closed, opened, subject.topology.mouth_loop)
    assert (drawn != grey).any()
    np.testing.assert_array_equal(drawn[..., 0], drawn[..., 1])
    np.testing.assert_array_equal(drawn[..., 0], drawn[..., 2])


def test_nothing_outside_the_opened_lips_changes(subject, closed_and_opened):
    closed, opened = closed_and_opened
    drawn = draw_mouth_interior(subject.crop, closed, opened, subject.topology.mouth_loop)
    changed = (drawn != subject.crop).any(axis=2)
    assert changed.sum() > 500
    outside_by = distance_transform_edt(~_inside(subject, opened))
    assert not (changed & (outside_by > 2)).any()


def test_no_new_opening_leaves_the_image_as_it_was(subject, closed_and_opened):
    loop = subject.topology.mouth_loop
    closed, _ = closed_and_opened
    for neutral, moved in ((closed, closed), (subject.landmarks_px, subject.landmarks_px)):
        np.testing.assert_array_equal(draw_mouth_interior(subject.crop, neutral, moved, loop), subject.crop)
    # Closing the lips is not opening them.
    lips = subject.landmarks_px[loop, :2]
    pursed = subject.landmarks_px.copy()
    pursed[loop, :2] = lips.mean(axis=0) + 0.8 * (lips - lips.mean(axis=0))
    np.testing.assert_array_equal(draw_mouth_interior(subject.crop, subject.landmarks_px, pursed, loop), subject.crop)


def test_a_barely_parted_mouth_is_only_a_dark_line(subject, closed_and_opened):
    closed, _ = closed_and_opened
    parted = closed.copy()
    lower_inner = sorted(set(LOWER_LIP_INNER[0] + LOWER_LIP_INNER[1]))
    parted[lower_inner, 1] += 0.012 * _face_width(closed)
    drawn = draw_mouth_interior(subject.crop, closed, parted, subject.topology.mouth_loop)
    inside = _inside(subject, parted)
    assert inside.sum() > 50
    assert _luminance(drawn)[inside].max() < 110  # no teeth showing


def _stripe_period(profile: np.ndarray) -> float:
    """The period (pixels) of the strongest sinusoid in a 1-D profile."""
    centred = profile - profile.mean()
    rows = np.arange(len(profile))
    periods = np.arange(2.5, 15.0, 0.02)
    power = [abs(np.sum(centred * np.exp(-2j * np.pi * rows / period))) for period in periods]
    return float(periods[int(np.argmax(power))])


def test_photo_teeth_hang_under_the_lip_unstretched(subject, closed_and_opened):
    closed, opened = closed_and_opened
    loop = subject.topology.mouth_loop
    period = 5.0
    rows = np.arange(40)
    stripes = np.where(np.sin(2 * np.pi * (rows + 0.5) / period) > 0, 230, 70).astype(np.uint8)
    strip = np.repeat(np.repeat(stripes[:, None], 80, axis=1)[..., None], 3, axis=2)
    drawn = draw_mouth_interior(subject.crop, closed, opened, loop, photo_teeth=strip)
    inside = _inside(subject, opened)
    frame = mouth_frame(opened[loop, :2])
    middle = int(round(frame.to_pixels(frame.midline_u, 0.0)[0]))
    luminance = _luminance(drawn)
    profiles = []
    for column in range(middle - 3, middle + 4):
        top = np.flatnonzero(inside[:, column])[0]
        profiles.append(luminance[top + 1:top + 19, column])
    profile = np.mean(profiles, axis=0)
    assert abs(_stripe_period(profile) - period) < 0.15 * period
    expected = np.interp(np.arange(1, 19) + 0.5, rows + 0.5, stripes.astype(float))
    assert np.corrcoef(profile, expected)[0, 1] > 0.6


def test_cut_photo_teeth_needs_an_open_mouth(subject, closed_and_opened):
    loop = subject.topology.mouth_loop
    closed, _ = closed_and_opened
    assert cut_photo_teeth(subject.crop, closed, loop) is None
    # The astronaut as photographed smiles with her teeth showing: the strip is bright at the top.
    photo_crop = getattr(subject, "photo_crop", subject.crop)
    photo_landmarks = getattr(subject, "photo_landmarks_px", subject.landmarks_px)
    strip = cut_photo_teeth(photo_crop, photo_landmarks, loop)
    assert strip is not None and strip.dtype == np.uint8 and strip.shape[2] == 3
    width = mouth_frame(photo_landmarks[loop, :2]).width
    assert abs(strip.shape[1] - width) <= 1
    assert _luminance(strip[:strip.shape[0] // 2, strip.shape[1] // 3:2 * strip.shape[1] // 3]).mean() > 150


def test_drawing_is_quick(subject, closed_and_opened):
    import time
    closed, opened = closed_and_opened
    loop = subject.topology.mouth_loop
    draw_mouth_interior(subject.crop, closed, opened, loop)
    start = time.perf_counter()
    for _ in range(5):
        draw_mouth_interior(subject.crop, closed, opened, loop)
    assert (time.perf_counter() - start) / 5 < 0.05  # about 3 ms here; generous for a loaded test machine
