"""The inner-mouth backing: its UVs land in the patch, and the patch shows the photo's mouth when it is open."""
import numpy as np

from backend.subject.calibration import CROP_SIZE, base_uvs
from backend.subject.face_topology import OUTER_LIP_LOOP
from backend.subject.mouth_interior import (CAVITY_LIGHTNESS, PATCH_PX, cavity_colour, lip_colour, mouth_patch,
                                    paint_mouth_patch, patch_uvs)


def texel(texture, uv):
    size = texture.shape[0]
    return texture[min(int((1 - uv[1]) * size), size - 1), min(int(uv[0] * size), size - 1)]


def test_backing_triangles_sample_only_the_patch_and_the_face_keeps_its_uvs(subject):
    topology = subject.topology
    uvs, face_uvs = base_uvs(topology, subject.landmarks_px, CROP_SIZE, subject.mouth_patch)
    mouth_rows = np.isin(topology.triangles, topology.mouth_backing_vertices).any(axis=1)
    assert mouth_rows.sum() == 3 * len(topology.mouth_loop)
    patch_corner = uvs[face_uvs[mouth_rows]].reshape(-1, 2)
    assert (patch_corner[:, 0] <= PATCH_PX / CROP_SIZE + 1e-6).all()
    assert (patch_corner[:, 1] <= PATCH_PX / CROP_SIZE + 1e-6).all()
    # The face surface itself still samples the crop at the landmarks (lip vertices included).
    np.testing.assert_array_equal(face_uvs[~mouth_rows], topology.triangles[~mouth_rows])
    assert len(uvs) == topology.vertex_count + len(topology.mouth_loop)
    assert face_uvs.max() < len(uvs) and (face_uvs[~mouth_rows] < topology.vertex_count).all()
    # The neutralised face's closed lips still map onto the whole of the photo's (open) mouth in the patch.
    rows = (1.0 - patch_corner[:, 1]) * CROP_SIZE - (CROP_SIZE - PATCH_PX)
    assert rows.max() - rows.min() > 0.6 * PATCH_PX


def test_the_patch_shows_the_open_mouth_of_the_photo(subject):
    """The astronaut smiles with her teeth showing: the patch centre is bright teeth, not the cavity colour."""
    patch = subject.mouth_patch
    centre = patch.image[PATCH_PX // 2 - 2:PATCH_PX // 2 + 2, PATCH_PX // 2 - 8:PATCH_PX // 2 + 8].mean(axis=(0, 1))
    assert centre.mean() > 120
    lips = subject.photo_landmarks_px
    cavity = cavity_colour(subject.photo_crop, lips[list(OUTER_LIP_LOOP), :2], lips[subject.topology.mouth_loop, :2])
    assert np.abs(patch.image[0, 0].astype(float) - cavity).max() <= 1  # outside the lips: the cavity
    assert cavity[0] > cavity[2]  # her lips' warm colour, darkened
    painted = paint_mouth_patch(subject.crop, patch)
    lips_uv = patch_uvs(patch, lips[subject.topology.mouth_loop, :2].mean(axis=0)[None], CROP_SIZE)  # as photographed
    assert np.abs(texel(painted, lips_uv[0]).astype(int) - centre).max() < 60
    assert (painted[:-PATCH_PX] == subject.crop[:-PATCH_PX]).all()  # nothing else is painted


def test_a_closed_mouth_gives_the_cavity_colour_and_a_grey_photo_a_grey_one():
    crop = np.full((128, 128, 3), 200, np.uint8)
    closed_lips = np.column_stack([np.linspace(40, 80, 20), np.full(20, 64.0)])  # a flat line: no opening
    outer = np.array([[36.0, 64.0], [60.0, 56.0], [84.0, 64.0], [60.0, 74.0]])
    cavity = cavity_colour(crop, outer, closed_lips)
    np.testing.assert_allclose(cavity, CAVITY_LIGHTNESS * 200)
    np.testing.assert_allclose(lip_colour(crop, outer, closed_lips), 200)
    patch = mouth_patch(crop, closed_lips, cavity)
    assert (np.abs(patch.image.astype(int) - cavity).max(axis=2) <= 1).all()
    assert (patch.image.max(axis=2) == patch.image.min(axis=2)).all()  # grey in, grey out


def test_the_opening_is_filled_from_the_lips_before_it_becomes_a_texture(subject):
    """The photo as taken shows her teeth between the lips: filled, the opening holds lip colours, nothing else
    changes."""
    from backend.subject.calibration import polygon_mask
    from backend.subject.mouth_interior import OPENING_FILL_MARGIN_PX, fill_mouth_opening
    from scipy.ndimage import binary_dilation
    lips = subject.photo_landmarks_px[subject.topology.mouth_loop, :2]
    filled = fill_mouth_opening(subject.photo_crop, lips)
    opening = polygon_mask(lips, CROP_SIZE)
    grown = binary_dilation(opening, structure=np.ones((3, 3), bool), iterations=OPENING_FILL_MARGIN_PX)
    np.testing.assert_array_equal(filled[~grown], subject.photo_crop[~grown])
    lip = lip_colour(subject.photo_crop, subject.photo_landmarks_px[list(OUTER_LIP_LOOP), :2], lips)
    def teeth_like(pixels):  # light and nearly colourless, unlike lips
        pixels = pixels.astype(int)
        return float(((pixels.max(axis=1) - pixels.min(axis=1) < 30) & (pixels.mean(axis=1) > 150)).mean())
    before, after = teeth_like(subject.photo_crop[opening]), teeth_like(filled[opening])
    assert before > 0.1 and after < 0.25 * before  # (teeth reaching a pixel past the landmarks leave a little)
    assert np.abs(filled[opening].mean(axis=0) - lip).max() < 40  # what is there is lip-coloured
