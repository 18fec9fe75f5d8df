import cv2
import numpy as np
import pytest
from skimage import data

from backend.errors import FaceDetectionError
from backend.subject.face_detection import MIN_FACE_PX, FaceBox, choose_face

# The astronaut's face, measured by hand on the photo: centre in pixels (also used by test_skin_tone's ellipse).
FACE_CENTRE = (224.0, 120.0)


def _box_on(box: FaceBox, centre, tolerance: float) -> bool:
    return np.hypot(box.centre[0] - centre[0], box.centre[1] - centre[1]) < tolerance


def test_finds_the_one_astronaut_face(face_finder, astronaut):
    boxes = face_finder.find(astronaut)
    assert len(boxes) == 1
    assert boxes[0].width >= MIN_FACE_PX
    assert _box_on(boxes[0], FACE_CENTRE, 15)
    choice = choose_face(boxes)
    assert choice.faces_found == 1 and choice.note is None


def test_boxes_of_a_photo_larger_than_the_search_size_are_in_photo_pixels(face_finder, astronaut):
    big = cv2.resize(astronaut, (1536, 1536), interpolation=cv2.INTER_CUBIC)  # searched at 1024, reported at 1536
    (box,) = face_finder.find(big)
    (small_box,) = face_finder.find(astronaut)
    assert box.width == pytest.approx(3 * small_box.width, rel=0.05)
    assert _box_on(box, (3 * FACE_CENTRE[0], 3 * FACE_CENTRE[1]), 45)


@pytest.mark.parametrize("image", [data.coffee(), np.full((400, 400, 3), 200, np.uint8)], ids=["coffee", "blank"])
def test_no_face_is_an_error(face_finder, image):
    with pytest.raises(FaceDetectionError, match="no face"):
        choose_face(face_finder.find(image), source="cup.jpg")


def test_two_faces_of_the_same_size_are_an_error(face_finder, astronaut):
    twins = np.concatenate([astronaut, astronaut], axis=1)
    boxes = face_finder.find(twins)
    assert len(boxes) == 2
    with pytest.raises(FaceDetectionError, match="same size"):
        choose_face(boxes)


def test_largest_face_is_chosen_over_a_smaller_one(face_finder, astronaut):
    smaller = cv2.resize(astronaut, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 512 + smaller.shape[1], 3), 255, np.uint8)
    canvas[:, :512] = astronaut
    canvas[:smaller.shape[0], 512:] = smaller
    choice = choose_face(face_finder.find(canvas), source="group.jpg")
    assert choice.faces_found == 2
    assert _box_on(choice.box, FACE_CENTRE, 15)  # the original, not the copy at x > 512
    assert choice.box.x + choice.box.width < 512
    assert choice.note is not None and "ignored 1 smaller" in choice.note
    assert f"x={choice.box.x:.0f}" in choice.note


def test_face_under_the_minimum_width_is_an_error(face_finder, astronaut):
    half = cv2.resize(astronaut, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 512, 3), 255, np.uint8)
    canvas[128:384, 128:384] = half
    boxes = face_finder.find(canvas)
    assert len(boxes) == 1 and boxes[0].width < MIN_FACE_PX  # the face is still found...
    with pytest.raises(FaceDetectionError, match=r"\d+ px wide"):  # ...but refused, saying how wide it is
        choose_face(boxes, source="far.jpg")


def test_landmarks_on_a_face_crop(landmark_detector, astronaut):
    crop = np.ascontiguousarray(astronaut[20:240, 110:330])  # 220x220 around the face
    landmarks = landmark_detector.landmarks(crop)
    assert landmarks.shape == (468, 3) and landmarks.dtype == np.float64
    assert (landmarks[:, :2] >= 0).all() and (landmarks[:, :2] < 220).all()
    # Face anatomy in image coordinates: forehead (10) above nose tip (1) above chin (152); the subject's
    # right cheek (234) on the image's left of their left cheek (454).
    assert landmarks[10, 1] < landmarks[1, 1] < landmarks[152, 1]
    assert landmarks[234, 0] < landmarks[1, 0] < landmarks[454, 0]
    # The nose tip is nearer the camera (smaller z) than the cheeks.
    assert landmarks[1, 2] < min(landmarks[234, 2], landmarks[454, 2])
    # The landmarks lie on the face YuNet finds (box in crop pixels).
    centre = landmarks[:, :2].mean(axis=0)
    assert np.hypot(centre[0] - (FACE_CENTRE[0] - 110), centre[1] - (FACE_CENTRE[1] - 20)) < 20


def test_no_landmarks_on_a_blank_image(landmark_detector):
    with pytest.raises(FaceDetectionError, match="blank.png"):
        landmark_detector.landmarks(np.full((256, 256, 3), 128, np.uint8), source="blank.png")
