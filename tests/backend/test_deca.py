"""The deca reconstructor on a synthetic DECA folder (released keys, shapes and formats; random weights): networks
against the released checkpoint's manifest (deca_checkpoint_manifest.py), strict loading, the folder's files, crop, UV
rasterisation, texture extraction, the identity lock."""
import numpy as np
import pytest
import torch
from deca_checkpoint_manifest import released_manifest, resnet50_manifest

from backend.bench.synthetic_deca import (face_eye_mask, synthetic_face_photo, synthetic_state_dicts,
                                           write_albedo, write_deca_checkpoint, write_synthetic_deca_folder)
from backend.deca.assets import (HEAD_TEMPLATE, REQUIRED_FILES, DecaFilesError, check_deca_folder, load_albedo,
                                 load_deca_assets, load_head_template, missing_deca_files)
from backend.deca.checkpoint import DecaCheckpointError, check_state_dict, expected_shapes, read_deca_checkpoint
from backend.deca.crop import BOX_LANDMARKS_468, CROP_SIZE, crop_square, deca_crop, landmark_box
from backend.deca.networks import DETAIL_BATCHNORM_EPS, build_deca_networks
from backend.deca.reconstructor import DecaReconstructor, DecaSettings, ndc_to_crop_pixels, orthographic_projection
from backend.deca.uv_raster import NO_ALBEDO_GREY, rasterize_uv_layout, texel_coordinates
from backend.flame.assets import FLAME_MODEL, load_flame

PHOTO_SIZE = 256


@pytest.fixture(scope="module")
def reconstructor(deca_folder):
    return DecaReconstructor.from_folder(deca_folder, settings=DecaSettings(dense_mesh=True))


@pytest.fixture(scope="module")
def neutral():
    return synthetic_face_photo(size=PHOTO_SIZE, mouth_open=0.0)


@pytest.fixture(scope="module")
def identity(reconstructor, neutral):
    return reconstructor.encode_identity(*neutral)


# ---------------------------------------------------------------------------------------------------------------
# Networks and checkpoint


def test_resnet50_manifest_has_torchvisions_keys():
    keys = resnet50_manifest()
    # torchvision's resnet50 state dict has 320 entries; DECA's backbone drops fc.weight and fc.bias.
    assert len(keys) == 318
    assert keys["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert keys["layer4.2.conv3.weight"] == (2048, 512, 1, 1)
    assert keys["layer3.5.bn2.num_batches_tracked"] == ()
    assert "layer1.1.downsample.0.weight" not in keys


def test_our_networks_match_the_released_manifest_exactly():
    manifest = released_manifest()
    expected = expected_shapes()
    assert list(expected) == list(manifest)
    for name, network in build_deca_networks().items():
        ours = [(key, tuple(value.shape)) for key, value in network.state_dict().items()]
        assert ours == list(manifest[name].items()), name
        assert list(expected[name].items()) == ours, name  # what loading checks is what the networks hold
    assert manifest["E_flame"]["layers.2.weight"] == (236, 1024)
    assert manifest["E_detail"]["layers.2.weight"] == (128, 1024)
    assert manifest["D_detail"]["l1.0.weight"] == (8192, 181)


def test_the_detail_generator_keeps_the_eps_quirk():
    blocks = build_deca_networks()["D_detail"].conv_blocks
    assert blocks[0].eps == 1e-5
    assert [blocks[index].eps for index in (3, 7, 11, 15, 19)] == [DETAIL_BATCHNORM_EPS] * 5 == [0.8] * 5
    assert blocks[0].momentum == blocks[3].momentum == 0.1
    assert isinstance(blocks[22], torch.nn.Tanh)


def test_the_detail_generator_makes_a_256_displacement_map():
    with torch.inference_mode():
        maps = build_deca_networks()["D_detail"](torch.randn(2, 181))
    assert maps.shape == (2, 1, 256, 256)
    assert maps.abs().max() <= 0.01


def test_the_synthetic_checkpoint_loads_strictly(deca_folder):
    state_dicts = read_deca_checkpoint(deca_folder / "deca_model.tar")
    networks = build_deca_networks()
    for name, network in networks.items():
        assert network.load_state_dict(state_dicts[name], strict=True).missing_keys == []


def test_a_legacy_format_checkpoint_loads(tmp_path):
    path = tmp_path / "deca_model.tar"
    state_dicts = synthetic_state_dicts()
    write_deca_checkpoint(path, legacy_format=True, state_dicts=state_dicts)
    loaded = read_deca_checkpoint(path)
    assert torch.equal(loaded["D_detail"]["l1.0.weight"], state_dicts["D_detail"]["l1.0.weight"])


@pytest.fixture(scope="module")
def released_state():
    return {name: {key: torch.zeros(shape) for key, shape in keys.items()}
            for name, keys in released_manifest().items()}


def test_a_removed_key_is_named(released_state):
    state = dict(released_state["E_flame"])
    del state["encoder.layer2.3.bn1.running_var"]
    with pytest.raises(DecaCheckpointError, match=r"missing 1 key\(s\): encoder\.layer2\.3\.bn1\.running_var"):
        check_state_dict(state, expected_shapes()["E_flame"], "E_flame")


def test_a_reshaped_key_is_named(released_state):
    state = dict(released_state["D_detail"])
    state["conv_blocks.14.weight"] = torch.zeros(32, 64, 5, 5)
    with pytest.raises(DecaCheckpointError, match=r"conv_blocks\.14\.weight \(32, 64, 5, 5\) \(expected "
                                                  r"\(32, 64, 3, 3\)\)"):
        check_state_dict(state, expected_shapes()["D_detail"], "D_detail")


def test_an_extra_key_is_named(released_state):
    state = {**released_state["E_detail"], "encoder.fc.weight": torch.zeros(1000, 2048)}
    with pytest.raises(DecaCheckpointError, match=r"unexpected 1 key\(s\): encoder\.fc\.weight"):
        check_state_dict(state, expected_shapes()["E_detail"], "E_detail")


def test_a_checkpoint_file_with_a_key_removed_fails_with_its_name(tmp_path, released_state):
    path = tmp_path / "deca_model.tar"
    flame = dict(released_state["E_flame"])
    del flame["layers.2.bias"]
    torch.save({**released_state, "E_flame": flame}, path)
    with pytest.raises(DecaCheckpointError, match=r"\[E_flame\].*missing 1 key\(s\): layers\.2\.bias"):
        read_deca_checkpoint(path)


def test_a_checkpoint_without_a_network_names_it(tmp_path, released_state):
    path = tmp_path / "deca_model.tar"
    torch.save({"E_flame": released_state["E_flame"], "E_detail": released_state["E_detail"]}, path)
    with pytest.raises(DecaCheckpointError, match="D_detail"):
        read_deca_checkpoint(path)


# ---------------------------------------------------------------------------------------------------------------
# The folder's files


def test_missing_files_are_named_with_where_to_get_them(tmp_path):
    (tmp_path / "head_template.obj").write_text("")
    missing = missing_deca_files(tmp_path)
    assert missing == [name for name in REQUIRED_FILES if name != "head_template.obj"]
    with pytest.raises(DecaFilesError) as error:
        check_deca_folder(tmp_path)
    message = str(error.value)
    for name in missing:
        assert name in message
    assert "head_template.obj" not in message
    assert "flame.is.tue.mpg.de" in message and "DECA" in message


def test_missing_deca_files_are_all_named(tmp_path):
    folder = write_synthetic_deca_folder(tmp_path / "deca", checkpoint=False)
    (folder / "head_template.obj").unlink()
    with pytest.raises(DecaFilesError) as error:
        DecaReconstructor.from_folder(folder)
    message = str(error.value)
    assert "deca_model.tar" in message and "head_template.obj" in message
    assert "generic_model.pkl" not in message and "github.com/yfeng95/DECA" in message


def test_an_unreadable_flame_model_in_the_folder_is_a_deca_files_error(tmp_path):
    for name in REQUIRED_FILES:
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(DecaFilesError, match=r"generic_model\.pkl is not a readable FLAME model pickle"):
        load_deca_assets(tmp_path)


def test_head_template_has_flames_topology(deca_folder):
    template = load_head_template(deca_folder / HEAD_TEMPLATE)
    assert template.vertices.shape == (5023, 3) and template.uvs.shape == (5118, 2)
    assert template.faces.shape == template.face_uvs.shape == (9976, 3)
    np.testing.assert_array_equal(template.faces, load_flame(deca_folder / FLAME_MODEL).faces)


# ---------------------------------------------------------------------------------------------------------------
# Crop


def test_the_crop_follows_decas_rule():
    landmarks = np.zeros((468, 2))
    landmarks[:] = (150.0, 150.0)
    box_points = list(BOX_LANDMARKS_468)
    landmarks[box_points[0]] = (100.0, 120.0)   # left, top
    landmarks[box_points[1]] = (200.0, 200.0)   # right, bottom
    landmarks[10] = (150.0, 40.0)               # forehead: not part of DECA's 68-point box
    box = landmark_box(landmarks)
    assert box == (100.0, 120.0, 200.0, 200.0)
    centre, size = crop_square(box)
    assert centre == (150.0, 160.0)
    assert size == int((100 + 80) / 2 * 1.1 * 1.25)


def test_the_crop_maps_the_square_onto_224_pixels():
    rows, columns = np.mgrid[0:300, 0:300]
    photo = np.stack([columns % 256, rows % 256, np.zeros_like(rows)], axis=-1).astype(np.uint8)
    _, landmarks = synthetic_face_photo(size=300)
    crop = deca_crop(photo, landmarks)
    assert crop.image.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.image.dtype == np.float32
    corners = np.array([[crop.centre[0] - crop.size / 2, crop.centre[1] - crop.size / 2, 1.0],
                        [crop.centre[0] - crop.size / 2, crop.centre[1] + crop.size / 2, 1.0],
                        [crop.centre[0] + crop.size / 2, crop.centre[1] - crop.size / 2, 1.0]])
    np.testing.assert_allclose(corners @ crop.matrix.T, [[0, 0], [0, 223], [223, 0]], atol=1e-9)
    # Inside the photo the crop holds the photo's value at the mapped position (x in red, y in green); OpenCV
    # interpolates at 1/32 pixel.
    expected = crop.to_photo(np.array([[50.0, 60.0], [180.0, 30.0]]))
    for (x, y), (px, py) in zip(((50, 60), (180, 30)), expected, strict=True):
        assert abs(crop.image[y, x, 0] * 255 - px) < 1 / 32 and abs(crop.image[y, x, 1] * 255 - py) < 1 / 32


# ---------------------------------------------------------------------------------------------------------------
# UV rasterisation and texture


def test_the_uv_raster_reproduces_each_texels_uv(reconstructor):
    raster = reconstructor.uv_raster
    template = reconstructor.assets.template
    covered = raster.covered
    assert 0.70 < covered.mean() < 0.73  # the synthetic layout is a disc of radius 0.48: π·0.48² = 0.724
    weights = raster.barycentrics[covered]
    assert (weights >= -1e-6).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    corner_uvs = template.uvs[template.face_uvs[raster.face_ids[covered]]]        # (N,3,2)
    interpolated = texel_coordinates((weights[..., None] * corner_uvs).sum(axis=1), raster.size)
    rows, columns = np.nonzero(covered)
    np.testing.assert_allclose(interpolated, np.stack([columns, rows], axis=1), atol=1e-3)


def test_the_uv_raster_has_no_holes_inside_the_layout(reconstructor):
    raster = reconstructor.uv_raster
    centres = (np.arange(raster.size) + 0.5) / raster.size
    u, v = np.meshgrid(centres, 1.0 - centres)
    well_inside = (u - 0.5) ** 2 + (v - 0.5) ** 2 < 0.47 ** 2
    assert raster.covered[well_inside].all()


def test_rasterising_a_single_triangle():
    raster = rasterize_uv_layout(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), np.array([[0, 1, 2]]), 8)
    # Texel (row r, column c) is u=(c+.5)/8, v=1-(r+.5)/8: inside when u+v ≤ 1, i.e. c ≤ r.
    rows, columns = np.mgrid[0:8, 0:8]
    np.testing.assert_array_equal(raster.covered, columns <= rows)
    assert raster.face_ids[7, 0] == 0 and raster.face_ids[0, 7] == -1


def test_the_texture_samples_each_texels_projection(reconstructor):
    """A photo whose red and green are its pixel x and y: each face texel's colour is where its 3D point projects."""
    rows, columns = np.mgrid[0:PHOTO_SIZE, 0:PHOTO_SIZE]
    photo, landmarks = synthetic_face_photo(size=PHOTO_SIZE)
    coded = np.stack([columns, rows, np.full_like(rows, 40)], axis=-1).astype(np.uint8)
    identity = reconstructor.encode_identity(coded, landmarks)
    raster = reconstructor.uv_raster
    mask = face_eye_mask() > 0
    # Independently: the texel's 3D point, DECA's camera, the crop's pixel convention, back into the photo.
    corners = identity.vertices[identity.faces[raster.face_ids[mask]]]          # (N,3,3)
    points = (raster.barycentrics[mask][..., None] * corners).sum(axis=1)
    s, tx, ty = identity.codes.cam[0].tolist()
    ndc = np.stack([s * (points[:, 0] + tx), -s * (points[:, 1] + ty)], axis=1)
    photo_px = identity.crop.to_photo((ndc + 1.0) * 112.0 - 0.5)
    inside = ((photo_px > 1) & (photo_px < PHOTO_SIZE - 2)).all(axis=1)
    assert inside.mean() > 0.9
    texture = identity.texture[mask][inside].astype(float)
    np.testing.assert_allclose(texture[:, :2], photo_px[inside], atol=1.0)
    # Outside the face-eye mask: DECA's grey (no albedo model in this folder).
    assert (identity.texture[~mask] == round(NO_ALBEDO_GREY * 255 - 1e-6)).all()


def test_projection_conventions():
    vertices = torch.tensor([[[0.1, 0.2, 0.3]]])
    projected = orthographic_projection(vertices, torch.tensor([[2.0, 0.5, -0.5]]))
    torch.testing.assert_close(projected, torch.tensor([[[1.2, 0.6, -0.6]]]))
    np.testing.assert_allclose(ndc_to_crop_pixels(np.array([-1.0, 1.0])), [-0.5, 223.5])


def test_the_albedo_model_is_read_as_rgb_at_256(tmp_path):
    path = tmp_path / "FLAME_albedo_from_BFM.npz"
    write_albedo(path, components=8)  # the release has 199; fewer keep the test light
    albedo = load_albedo(path, components=8)
    assert albedo.mean.shape == (256, 256, 3) and albedo.basis.shape == (256, 256, 3, 8)
    np.testing.assert_allclose(albedo.mean[0, 0], [0.8, 0.6, 0.45], atol=1e-6)  # stored BGR


# ---------------------------------------------------------------------------------------------------------------
# Reconstruction and the identity lock


def test_calibration_outputs(identity, reconstructor):
    assert identity.vertices.shape == (5023, 3) and identity.vertices.dtype == np.float32
    assert identity.texture.shape == (256, 256, 3) and identity.texture.dtype == np.uint8
    assert identity.uvs.shape == (5118, 2) and identity.faces.shape == identity.face_uvs.shape == (9976, 3)
    assert identity.codes.shape.shape == (1, 100) and identity.codes.light.shape == (1, 9, 3)
    assert identity.displacement.shape == (256, 256)
    assert identity.mesh.has_uvs
    assert np.abs(identity.vertices).max() < 0.3  # metres: a head, not centimetres
    assert reconstructor.settings()["albedo_model"] is False


def test_the_neutral_reconstructed_again_gives_identical_vertices(reconstructor, identity, neutral):
    again = reconstructor.reconstruct(identity, *neutral)
    assert torch.equal(again.codes.shape, identity.codes.shape)
    np.testing.assert_array_equal(again.vertices, identity.vertices)
    np.testing.assert_array_equal(again.texture, identity.texture)


@pytest.fixture(scope="module")
def expression(reconstructor, identity):
    return reconstructor.reconstruct(identity, *synthetic_face_photo(size=PHOTO_SIZE, mouth_open=1.0))


def test_an_edited_photo_keeps_the_identity_and_brings_its_expression(reconstructor, identity, expression):
    locked, edited = expression.codes, expression.edited_codes
    for name in ("shape", "tex", "cam", "light", "detail"):
        assert torch.equal(getattr(locked, name), getattr(identity.codes, name)), name
    assert torch.equal(locked.pose[:, :3], identity.codes.pose[:, :3])
    assert torch.equal(locked.exp, edited.exp) and torch.equal(locked.pose[:, 3:], edited.pose[:, 3:])
    assert not torch.equal(edited.exp, identity.codes.exp)
    assert not torch.equal(edited.shape, identity.codes.shape)  # DECA alone would have changed the face
    with torch.inference_mode():
        expected = reconstructor.flame(identity.codes.shape, edited.exp,
                                       torch.cat([identity.codes.pose[:, :3], edited.pose[:, 3:]], dim=1))
    np.testing.assert_array_equal(expression.vertices, expected.vertices[0].numpy())
    assert np.abs(expression.vertices - identity.vertices).max() > 1e-5


def test_an_edited_texture_keeps_the_neutral_outside_the_face(identity, expression):
    outside = face_eye_mask() == 0
    np.testing.assert_array_equal(expression.texture[outside], identity.texture[outside])
    assert not np.array_equal(expression.texture, identity.texture)


def test_details_follow_the_expression(identity, expression):
    assert not np.array_equal(expression.displacement, identity.displacement)
    outside = face_eye_mask() == 0
    np.testing.assert_array_equal(expression.displacement[outside], identity.displacement[outside])


def test_the_dense_mesh_is_displaced_along_the_normals(reconstructor, identity):
    topology = reconstructor.dense_topology
    assert identity.dense_vertices.shape == (len(topology.texels), 3)
    assert topology.faces.min() >= 0 and topology.faces.max() < len(topology.texels)
    raster = reconstructor.uv_raster
    corners = identity.vertices[identity.faces[raster.face_ids.ravel()[topology.texels]]]
    surface = (raster.barycentrics.reshape(-1, 3)[topology.texels][..., None] * corners).sum(axis=1)
    offsets = np.linalg.norm(identity.dense_vertices - surface, axis=1)
    np.testing.assert_allclose(offsets, np.abs(identity.displacement.ravel()[topology.texels]), atol=1e-6)


def test_without_landmarks_the_neutral_framing_is_reused(reconstructor, identity, neutral):
    again = reconstructor.reconstruct(identity, neutral[0], None)
    assert again.crop.centre == identity.crop.centre and again.crop.size == identity.crop.size
    np.testing.assert_array_equal(again.vertices, identity.vertices)


def test_bad_inputs_are_refused_by_name(reconstructor, identity, neutral):
    with pytest.raises(ValueError, match="the edited photo"):
        reconstructor.reconstruct(identity, neutral[0].astype(np.float32), neutral[1])
    with pytest.raises(ValueError, match="landmarks"):
        reconstructor.encode_identity(neutral[0], neutral[1][:100])
    with pytest.raises(ValueError, match="224"):
        reconstructor.encode(np.zeros((100, 100, 3), np.float32))
