"""The drawn mouth interior: teeth under the upper lip, a dark cavity, colours from the photo, lips untouched."""
import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt

from backend.subject.face_topology import CHIN, LOWER_LIP_INNER, LOWER_LIP_OUTER
from backend.subject.calibration import polygon_mask
from backend.editors.mouth_drawing import draw_mouth_interior
from backend.editors.mouth_frame import mouth_frame
from backend.editors.photo_teeth import PhotoTeeth, cut_photo_teeth

# Inner-lip loop points beside the corners (not in LOWER_LIP_INNER): they open half as far.
LOWER_INNER_BESIDE_CORNERS = (95, 324)
LUMINANCE = np.array([0.299, 0.587, 0.114])


def _face_width(landmarks):
    return float(np.linalg.norm(landmarks[454, :2] - landmarks[234, :2]))


LOWER_INNER = sorted(set(LOWER_LIP_INNER[0] + LOWER_LIP_INNER[1]) | set(LOWER_INNER_BESIDE_CORNERS))


def _dropped_jaw(closed, fraction_of_face_width):
    """Landmarks with the lower lip and chin moved down by a fraction of the face width."""
    opened = closed.copy()
    drop = fraction_of_face_width * _face_width(closed)
    for index in LOWER_INNER + sorted(set(LOWER_LIP_OUTER[0] + LOWER_LIP_OUTER[1])) + list(CHIN):
        opened[index, 1] += drop * (0.5 if index in LOWER_INNER_BESIDE_CORNERS else 1.0)
    return opened


@pytest.fixture(scope="module")
def closed_and_opened(subject):
    """(closed, opened) landmarks: the astronaut's lips closed (the lower inner lip laid on the upper one),
    then the jaw opened: lower lip and chin down by 8 % of the face width."""
    loop = subject.topology.mouth_loop
    closed = subject.landmarks_px.copy()
    frame = mouth_frame(closed[loop, :2])
    for index in LOWER_INNER:
        u = frame.to_local(closed[index, :2])[0]
        closed[index, :2] = frame.to_pixels(u, frame.upper_v(u) + 0.3)
    return closed, _dropped_jaw(closed, 0.08)


@pytest.fixture(scope="module")
def photo_teeth(subject):
    """The astronaut's own smile (upper teeth, the lower ones just showing) cut from the photo as taken."""
    teeth = cut_photo_teeth(subject.photo_crop, subject.photo_landmarks_px, subject.topology.mouth_loop)
    assert teeth is not None
    return teeth


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


@pytest.mark.parametrize("with_photo_teeth", [False, True])
def test_a_grey_photo_gives_a_grey_mouth(subject, closed_and_opened, with_photo_teeth):
    closed, opened = closed_and_opened
    loop = subject.topology.mouth_loop
    grey = np.repeat(np.rint(_luminance(subject.crop)).astype(np.uint8)[..., None], 3, axis=2)
    teeth = None
    if with_photo_teeth:
        grey_photo = np.repeat(np.rint(_luminance(subject.photo_crop)).astype(np.uint8)[..., None], 3, axis=2)
        teeth = cut_photo_teeth(grey_photo, subject.photo_landmarks_px, loop)
    drawn = draw_mouth_interior(grey, closed, _dropped_jaw(closed, 0.12), loop, teeth)
    assert (drawn != grey).any()
    np.testing.assert_array_equal(drawn[..., 0], drawn[..., 1])
    np.testing.assert_array_equal(drawn[..., 0], drawn[..., 2])


@pytest.mark.parametrize("with_photo_teeth", [False, True])
def test_nothing_outside_the_opened_lips_changes(subject, closed_and_opened, photo_teeth, with_photo_teeth):
    closed, opened = closed_and_opened
    teeth = photo_teeth if with_photo_teeth else None
    drawn = draw_mouth_interior(subject.crop, closed, opened, subject.topology.mouth_loop, teeth)
    changed = (drawn != subject.crop).any(axis=2)
    assert changed.sum() > 500
    outside_by = distance_transform_edt(~_inside(subject, opened))
    assert not (changed & (outside_by > 2)).any()


@pytest.mark.parametrize("with_photo_teeth", [False, True])
def test_no_new_opening_leaves_the_image_as_it_was(subject, closed_and_opened, photo_teeth, with_photo_teeth):
    loop = subject.topology.mouth_loop
    closed, _ = closed_and_opened
    teeth = photo_teeth if with_photo_teeth else None
    for neutral, moved in ((closed, closed), (subject.landmarks_px, subject.landmarks_px)):
        np.testing.assert_array_equal(draw_mouth_interior(subject.crop, neutral, moved, loop, teeth), subject.crop)
    # Closing the lips is not opening them.
    lips = subject.landmarks_px[loop, :2]
    pursed = subject.landmarks_px.copy()
    pursed[loop, :2] = lips.mean(axis=0) + 0.8 * (lips - lips.mean(axis=0))
    np.testing.assert_array_equal(draw_mouth_interior(subject.crop, subject.landmarks_px, pursed, loop, teeth),
                                  subject.crop)


def test_a_barely_parted_mouth_is_only_a_dark_line(subject, closed_and_opened):
    closed, _ = closed_and_opened
    parted = closed.copy()
    lower_inner = sorted(set(LOWER_LIP_INNER[0] + LOWER_LIP_INNER[1]))
    parted[lower_inner, 1] += 0.012 * _face_width(closed)
    drawn = draw_mouth_interior(subject.crop, closed, parted, subject.topology.mouth_loop)
    inside = _inside(subject, parted)
    assert inside.sum() > 50
    before, after = _luminance(subject.crop), _luminance(drawn)
    assert (after[inside] <= before[inside] + 3).all()  # no teeth showing anywhere
    lips = parted[subject.topology.mouth_loop, :2]
    middle = slice(int(lips[:, 0].mean()) - 10, int(lips[:, 0].mean()) + 10)
    assert (np.where(inside, after, 255)[:, middle].min(axis=0) < 70).all()  # a dark line all along the middle


def _stripe_period(profile: np.ndarray) -> float:
    """The period (pixels) of the strongest sinusoid in a 1-D profile."""
    centred = profile - profile.mean()
    rows = np.arange(len(profile))
    periods = np.arange(2.5, 15.0, 0.02)
    power = [abs(np.sum(centred * np.exp(-2j * np.pi * rows / period))) for period in periods]
    return float(periods[int(np.argmax(power))])


def _middle_columns(frame, half_width):
    middle = int(round(frame.to_pixels(frame.midline_u, 0.0)[0]))
    return range(middle - half_width, middle + half_width + 1)


def test_photo_teeth_hang_under_the_lip_unstretched(subject, closed_and_opened):
    closed, opened = closed_and_opened
    loop = subject.topology.mouth_loop
    period = 5.0
    rows = np.arange(40)
    stripes = np.where(np.sin(2 * np.pi * (rows + 0.5) / period) > 0, 230, 70).astype(np.uint8)
    upper = np.dstack([np.repeat(stripes[:, None], 80, axis=1)] * 3 + [np.full((40, 80), 255, np.uint8)])
    teeth = PhotoTeeth(upper=upper, lower=np.zeros((4, 80, 4), np.uint8), opening=40.0, split=40.0)
    drawn = draw_mouth_interior(subject.crop, closed, opened, loop, photo_teeth=teeth)
    inside = _inside(subject, opened)
    luminance = _luminance(drawn)
    profiles = []
    for column in _middle_columns(mouth_frame(opened[loop, :2]), 3):
        top = np.flatnonzero(inside[:, column])[0]
        profiles.append(luminance[top + 1:top + 19, column])
    profile = np.mean(profiles, axis=0)
    assert abs(_stripe_period(profile) - period) < 0.15 * period
    expected = np.interp(np.arange(1, 19) + 0.5, rows + 0.5, stripes.astype(float))
    assert np.corrcoef(profile, expected)[0, 1] > 0.5  # (its phase depends on where the lip crosses the pixels)


def test_a_dropped_jaw_parts_the_photo_teeth(subject, closed_and_opened, photo_teeth):
    """Upper teeth stay under the upper lip, lower teeth go down with the lower lip, the dark cavity between."""
    closed, _ = closed_and_opened
    loop = subject.topology.mouth_loop
    opened = _dropped_jaw(closed, 0.10)
    drawn = draw_mouth_interior(subject.crop, closed, opened, loop, photo_teeth)
    inside = _inside(subject, opened)
    luminance = _luminance(drawn)
    for column in _middle_columns(mouth_frame(opened[loop, :2]), 12):
        rows = np.flatnonzero(inside[:, column])
        profile = luminance[rows[0]:rows[-1] + 1, column]
        band = np.convolve(profile, np.ones(3) / 3.0, mode="valid")  # band[i]: rows i … i+2
        upper_teeth = band[3:9].max()         # under the upper lip (its shadow on the first rows)
        lower_teeth = band[-10:-2].max()      # just above the lower lip
        gap = band[9:-10].min()
        assert upper_teeth > 180 and lower_teeth > 180, column
        assert gap < 0.4 * min(upper_teeth, lower_teeth), column


def test_an_opening_like_the_photos_shows_the_photos_mouth(subject, photo_teeth):
    loop = subject.topology.mouth_loop
    photo_landmarks = subject.photo_landmarks_px
    flat = np.full_like(subject.photo_crop, 128)
    drawn = _luminance(draw_mouth_interior(flat, subject.landmarks_px, photo_landmarks, loop, photo_teeth))
    photo = _luminance(subject.photo_crop)
    frame = mouth_frame(photo_landmarks[loop, :2])
    size = subject.photo_crop.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(float)
    local = frame.to_local(np.stack([xs, ys], axis=-1))
    u, v = local[..., 0], local[..., 1]
    middle = _inside(subject, photo_landmarks) & (np.abs(u - frame.midline_u) < 0.3 * frame.width)
    upper_half = middle & (v < 0.5 * (frame.upper_v(u) + frame.lower_v(u)))
    assert upper_half.sum() > 300
    assert np.corrcoef(drawn[upper_half], photo[upper_half])[0, 1] > 0.9
    # Both rows meet as photographed: the whole opening is the photo's too.
    assert np.corrcoef(drawn[middle], photo[middle])[0, 1] > 0.85


def test_cut_photo_teeth_finds_the_gap_between_the_rows(subject):
    """A photo whose opening shows bright upper teeth, a dark gap at 35–50 % of its height, bright lower teeth."""
    loop = subject.topology.mouth_loop
    photo_landmarks = subject.photo_landmarks_px
    frame = mouth_frame(photo_landmarks[loop, :2])
    size = subject.photo_crop.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(float)
    local = frame.to_local(np.stack([xs, ys], axis=-1))
    depth = (local[..., 1] - frame.upper_teeth_line(local[..., 0])) / (frame.openness() * frame.width)
    photo = subject.photo_crop.copy()
    opening = _inside(subject, photo_landmarks)
    photo[opening] = np.where(((depth > 0.35) & (depth < 0.5))[opening][:, None], 40, 225)
    teeth = cut_photo_teeth(photo, photo_landmarks, loop)
    assert 0.35 < teeth.split / teeth.opening < 0.5
    # The astronaut's own smile has no such gap: the rows meet, the split falls a little over halfway.
    own = cut_photo_teeth(subject.photo_crop, photo_landmarks, loop)
    assert 0.45 < own.split / own.opening < 0.65


def test_cut_photo_teeth_needs_an_open_mouth(subject, closed_and_opened):
    loop = subject.topology.mouth_loop
    closed, _ = closed_and_opened
    assert cut_photo_teeth(subject.crop, closed, loop) is None
    # The astronaut as photographed smiles with her teeth showing: both halves are bright in the middle.
    teeth = cut_photo_teeth(subject.photo_crop, subject.photo_landmarks_px, loop)
    assert teeth is not None
    width = mouth_frame(subject.photo_landmarks_px[loop, :2]).width
    for half in (teeth.upper, teeth.lower):
        assert half.dtype == np.uint8 and half.shape[2] == 4
        assert abs(half.shape[1] - width) <= 1
        middle = half[:, half.shape[1] // 3:2 * half.shape[1] // 3]
        opaque = middle[..., 3] > 200
        assert opaque.sum() > 50
        assert _luminance(middle[..., :3])[opaque].mean() > 150
    assert teeth.upper.shape[0] < teeth.opening


@pytest.mark.parametrize("with_photo_teeth", [False, True])
def test_drawing_is_quick(subject, closed_and_opened, with_photo_teeth):
    import time
    closed, opened = closed_and_opened
    loop = subject.topology.mouth_loop

    def draw():
        teeth = None
        if with_photo_teeth:
            teeth = cut_photo_teeth(subject.photo_crop, subject.photo_landmarks_px, loop)
        return draw_mouth_interior(subject.crop, closed, opened, loop, teeth)

    draw()
    start = time.perf_counter()
    for _ in range(5):
        draw()
    assert (time.perf_counter() - start) / 5 < 0.05  # about 3 ms here; generous for a loaded test machine


def test_parted_lips_over_a_dark_mouth_are_not_taken_for_teeth(subject):
    """A photo whose lips part a little over a dark mouth (no teeth showing): drawn teeth, not its darkness."""
    photo = subject.photo_crop.copy()
    lips = subject.photo_landmarks_px[subject.topology.mouth_loop, :2]
    photo[polygon_mask(lips, photo.shape[0])] = (20, 12, 12)
    assert cut_photo_teeth(photo, subject.photo_landmarks_px, subject.topology.mouth_loop) is None
    assert cut_photo_teeth(subject.photo_crop, subject.photo_landmarks_px, subject.topology.mouth_loop) is not None
