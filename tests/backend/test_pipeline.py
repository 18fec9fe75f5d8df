"""End to end on the real astronaut photo: photo + prompts → an expression set, checked for meaning.

Distances are in face widths (the subject's face is 0.14 m wide). Real MediaPipe, YuNet, SFace and
MiniLM; nothing is mocked.
"""
import numpy as np
import pytest

from addon.core.errors import PromptError, PromptFaceError
from addon.core.expression_set import read_expression_set
from backend.errors import FaceDetectionError
from backend.subject.photo_io import encode_png_bytes
from backend.engines import Engines
from backend.pipeline import PipelineOptions, generate

PROMPTS = ["happy", "surprised", "angry", "sad", "70% happy + 30% surprised", "a delighted surprise", "a bicycle"]
FACE_WIDTH_M = 0.14
LEFT_CORNER, RIGHT_CORNER = 291, 61
RIGHT_INNER_BROW, LEFT_INNER_BROW = 107, 336
BROWS = [107, 66, 105, 63, 70, 336, 296, 334, 293, 300]
CHIN, UPPER_INNER_LIP, LOWER_INNER_LIP = 152, 13, 14
# Upper forehead, nose bridge and temples: no expression should move them (the glabella does, with the brows).
STABLE = [10, 151, 168, 6, 109, 338, 67, 297, 127, 356]


@pytest.fixture(scope="module")
def engines():
    return Engines.load()


@pytest.fixture(scope="module")
def expression_set(engines, astronaut_png, tmp_path_factory):
    out = tmp_path_factory.mktemp("sets") / "astronaut"
    generate(astronaut_png, "astronaut.png", PROMPTS, out, engines, PipelineOptions(diagnostics=True))
    return read_expression_set(out)


def motion(expression_set, name) -> np.ndarray:
    """(468,3) landmark displacement from the neutral, in face widths."""
    base = expression_set.base_mesh.vertices[:468]
    return (expression_set.expression(name).vertices[:468] - base) / FACE_WIDTH_M


def test_set_holds_the_neutral_first_then_the_photo_as_taken_then_one_expression_per_prompt(expression_set):
    # The astronaut smiles: calibration removes the smile from the neutral and keeps the photo as an expression.
    assert expression_set.names() == ["neutral", "as_photographed", "happy", "surprised", "angry", "sad",
                                      "happy70_surprised30", "a_delighted_surprise", "a_bicycle"]
    assert [e.prompt for e in expression_set.expressions[2:]] == PROMPTS
    np.testing.assert_allclose(expression_set.expression("neutral").vertices, expression_set.base_mesh.vertices,
                               atol=1e-6)  # base.obj holds micrometres
    assert (expression_set.root / "diagnostics" / "contact_sheet.png").is_file()
    assert (expression_set.root / "diagnostics" / "happy.skin_mask.png").is_file()


def test_the_manifest_reports_the_photos_expression_and_every_expressions_reading(expression_set):
    manifest = expression_set.manifest
    assert manifest["version"] == "1.2"
    photo_expression = manifest["subject"]["photo_expression"]
    assert photo_expression["removed_from_neutral"] is True and photo_expression["expression"] == "as_photographed"
    assert photo_expression["action_units"]["AU12"] > 0.3 and photo_expression["action_units"]["AU25"] > 0.3
    for expression in expression_set.expressions:
        reads_as = expression.record["reads_as"]
        assert set(reads_as) == {"angry", "disgusted", "afraid", "happy", "sad", "surprised", "neutral"}
        assert sum(reads_as.values()) == pytest.approx(1.0, abs=1e-4)
    assert max(expression_set.expression("as_photographed").record["reads_as"].items(), key=lambda i: i[1])[0] == \
        "happy"  # the photo as taken smiles
    # The neutralised face no longer opens its mouth: the inner lips (nearly) meet.
    gap = expression_set.base_mesh.vertices[UPPER_INNER_LIP, 1] - expression_set.base_mesh.vertices[LOWER_INNER_LIP, 1]
    photo = expression_set.expression("as_photographed").vertices
    assert gap < 0.4 * (photo[UPPER_INNER_LIP, 1] - photo[LOWER_INNER_LIP, 1])


def test_happy_raises_and_widens_the_lip_corners(expression_set):
    moved = motion(expression_set, "happy")
    assert moved[LEFT_CORNER, 1] > 0.01 and moved[RIGHT_CORNER, 1] > 0.01
    assert moved[LEFT_CORNER, 0] - moved[RIGHT_CORNER, 0] > 0.02  # the corners move apart


def test_surprised_raises_the_brows_and_opens_the_jaw(expression_set):
    moved = motion(expression_set, "surprised")
    assert (moved[BROWS, 1] > 0.015).all()
    assert moved[CHIN, 1] < -0.04
    assert moved[LOWER_INNER_LIP, 1] - moved[UPPER_INNER_LIP, 1] < -0.04  # the lips part


def test_angry_lowers_and_draws_together_the_inner_brows(expression_set):
    moved = motion(expression_set, "angry")
    assert moved[RIGHT_INNER_BROW, 1] < -0.01 and moved[LEFT_INNER_BROW, 1] < -0.01
    assert moved[LEFT_INNER_BROW, 0] - moved[RIGHT_INNER_BROW, 0] < -0.02  # closer together


def test_sad_lowers_the_lip_corners(expression_set):
    moved = motion(expression_set, "sad")
    assert moved[LEFT_CORNER, 1] < -0.01 and moved[RIGHT_CORNER, 1] < -0.01


def test_a_mixture_lies_between_its_parts(expression_set):
    happy, surprised = motion(expression_set, "happy"), motion(expression_set, "surprised")
    mixed = motion(expression_set, "happy70_surprised30")
    for landmark, axis in ((LEFT_CORNER, 1), (CHIN, 1), (RIGHT_INNER_BROW, 1)):
        low, high = sorted((happy[landmark, axis], surprised[landmark, axis]))
        assert low - 1e-4 <= mixed[landmark, axis] <= high + 1e-4
        expected = 0.7 * happy[landmark, axis] + 0.3 * surprised[landmark, axis]
        assert mixed[landmark, axis] == pytest.approx(expected, abs=0.004)


def test_identity_is_locked_stable_points_move_less_than_one_percent(expression_set):
    for expression in expression_set.expressions[1:]:
        moved = motion(expression_set, expression.name)
        assert np.linalg.norm(moved[STABLE], axis=1).max() < 0.01, expression.name
        assert expression.record["metrics"]["alignment_error"] < 0.01


def test_metrics_land_in_the_manifest(expression_set):
    for expression in expression_set.expressions:
        metrics = expression.record["metrics"]
        assert 0.5 < metrics["identity_cosine"] <= 1.0 + 1e-6, expression.name
        assert 0.0 < metrics["ssim"] <= 1.0 and metrics["psnr"] > 15.0
    for expression in expression_set.expressions[1:]:
        assert expression.record["metrics"]["identity_cosine_before_skin_tone"] is not None
        stages = {"skin_tone", "reconstruct", "texture"} | ({"prompt", "edit"} if expression.prompt != "as photographed"
                                                            else set())  # the photo as taken has no prompt, no edit
        assert set(expression.record["timings"]) >= stages
    assert expression_set.manifest["engines"]["editor"]["name"] == "warp"


def test_free_text_becomes_a_soft_mixture_with_a_warning_when_unclear(expression_set):
    surprise = expression_set.expression("a_delighted_surprise").record
    assert max(surprise["weights"], key=surprise["weights"].get) == "surprised"
    assert not any("no clear emotion" in warning for warning in surprise["warnings"])  # (the self-check may warn)
    assert any("no clear emotion" in warning for warning in expression_set.expression("a_bicycle").record["warnings"])


def test_textures_change_where_the_face_changes(expression_set):
    import cv2
    mask = cv2.imread(str(expression_set.expression("angry").mask_path), cv2.IMREAD_GRAYSCALE)
    neutral_mask = cv2.imread(str(expression_set.expression("neutral").mask_path), cv2.IMREAD_GRAYSCALE)
    assert neutral_mask.max() == 0
    uv = expression_set.base_mesh.uvs[:468]
    size = mask.shape[0]
    def pixel(landmark):  # row, column
        return int((1 - uv[landmark, 1]) * size), int(uv[landmark, 0] * size)
    # Lowered, drawn-together brows (and their furrows) change the texture there; the upper forehead does not.
    rows, columns = zip(*(pixel(landmark) for landmark in BROWS), strict=True)
    assert mask[min(rows) - 10:max(rows) + 10, min(columns) - 10:max(columns) + 10].max() > 128
    assert mask[pixel(151)] < 32
    # The lips next to the mouth's opening keep the lips' texels (no drawn teeth or cavity bleed onto them).
    assert mask[pixel(UPPER_INNER_LIP)] < 128


def test_redetection_path_recovers_the_direction_of_motion(engines, expression_set, subject):
    """Editors that cannot say where landmarks went (DiffEdit) rely on detection in the edited photo."""
    import cv2
    edited = cv2.cvtColor(cv2.imread(str(expression_set.expression("surprised").edited_path)), cv2.COLOR_BGR2RGB)
    reconstructor = engines.reconstructor_for("landmarks")
    reconstruction = reconstructor.reconstruct(subject, reconstructor.reconstruct_neutral(subject), edited)
    assert reconstruction.landmarks_source == "detected"
    moved = (reconstruction.vertices[:468] - subject.base_mesh.vertices[:468]) / FACE_WIDTH_M
    assert moved[CHIN, 1] < -0.02 and moved[BROWS, 1].mean() > 0.01
    # The points the alignment rests on stay put; detection noise elsewhere is gated by mobility, not removed.
    assert np.linalg.norm(moved[subject.stable_landmarks], axis=1).max() < 0.01
    assert reconstruction.alignment_error < 0.02


def test_bad_prompts_are_refused_before_any_work(engines, astronaut_png, tmp_path):
    out = tmp_path / "set"
    with pytest.raises(PromptError, match="empty"):
        generate(astronaut_png, "astronaut.png", ["happy", "  "], out, engines)
    with pytest.raises(PromptFaceError, match="no prompts"):
        generate(astronaut_png, "astronaut.png", [], out, engines)
    with pytest.raises(PromptError, match="AU99"):
        generate(astronaut_png, "astronaut.png", ["AU99:0.5"], out, engines)
    assert not out.exists()


def test_unavailable_engines_are_named(engines, astronaut_png, tmp_path):
    with pytest.raises(PromptFaceError, match="diffedit editor is not loaded.*--diffedit-model"):
        generate(astronaut_png, "a.png", ["happy"], tmp_path / "x", engines, PipelineOptions(editor="diffedit"))
    with pytest.raises(PromptFaceError, match="deca reconstructor is not loaded.*--deca-folder"):
        generate(astronaut_png, "a.png", ["happy"], tmp_path / "x", engines, PipelineOptions(reconstructor="deca"))
    with pytest.raises(PromptFaceError, match="unknown reconstructor 'mesh'.*landmarks"):
        generate(astronaut_png, "a.png", ["happy"], tmp_path / "x", engines, PipelineOptions(reconstructor="mesh"))
    assert list(tmp_path.iterdir()) == []


def test_a_photo_without_a_face_writes_nothing(engines, tmp_path):
    from skimage import data
    out = tmp_path / "set"
    with pytest.raises(FaceDetectionError, match="no face"):
        generate(encode_png_bytes(data.coffee()), "coffee.png", ["happy"], out, engines)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_an_existing_output_is_kept_unless_overwrite(engines, astronaut_png, tmp_path):
    out = tmp_path / "set"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(PromptFaceError, match="already exists"):
        generate(astronaut_png, "a.png", ["happy"], out, engines)
    assert (out / "keep.txt").read_text() == "mine"
    generate(astronaut_png, "a.png", ["AU12:0.5"], out, engines, overwrite=True)
    assert read_expression_set(out).names() == ["neutral", "as_photographed", "au12_50"]


def test_a_calibrated_subject_serves_later_prompts_and_streams_each_expression(engines, astronaut_png, tmp_path):
    from backend.pipeline import prepare_subject, generate_expressions
    prepared = prepare_subject(astronaut_png, "astronaut.png", engines)
    seen = []
    generate_expressions(prepared, ["happy", "sad"], tmp_path / "one", engines,
                         on_expression=lambda result, index, total: seen.append((result.data.name, index, total)))
    assert seen == [("happy", 1, 2), ("sad", 2, 2)]
    generate_expressions(prepared, ["surprised"], tmp_path / "two", engines)
    first, second = read_expression_set(tmp_path / "one"), read_expression_set(tmp_path / "two")
    np.testing.assert_array_equal(first.base_mesh.vertices, second.base_mesh.vertices)  # identity locked once


def test_cancelling_between_expressions_writes_nothing(engines, astronaut_png, tmp_path):
    from backend.pipeline import JobCancelled, prepare_subject, generate_expressions
    prepared = prepare_subject(astronaut_png, "astronaut.png", engines)
    done = []
    with pytest.raises(JobCancelled):
        generate_expressions(prepared, ["happy", "sad", "angry"], tmp_path / "set", engines,
                             on_expression=lambda result, index, total: done.append(index),
                             should_cancel=lambda: len(done) >= 1)
    assert done == [1] and list(tmp_path.iterdir()) == []


def test_the_option_keeps_the_photo_as_taken_as_the_neutral(engines, astronaut_png, tmp_path):
    out = tmp_path / "kept"
    generate(astronaut_png, "astronaut.png", ["AU12:0.5"], out, engines, PipelineOptions(neutralise=False))
    kept = read_expression_set(out)
    assert kept.names() == ["neutral", "au12_50"]
    photo_expression = kept.manifest["subject"]["photo_expression"]
    assert photo_expression["removed_from_neutral"] is False and photo_expression["expression"] is None
    assert "AU12" in photo_expression["action_units"]  # read and reported all the same
    assert all(expression.record["reads_as"] for expression in kept.expressions)


def test_a_greyscale_photo_stays_grey_through_every_step(engines, astronaut, tmp_path):
    """Mouth interior, creases, skin tone and texture take their colours from the photo: no reddish mouth."""
    grey = np.repeat(np.round(astronaut @ [0.299, 0.587, 0.114]).astype(np.uint8)[..., None], 3, axis=2)
    out = tmp_path / "grey"
    generate(encode_png_bytes(grey), "grey.png", ["surprised", "disgusted"], out, engines)
    expression_set = read_expression_set(out)
    for expression in expression_set.expressions:
        for path in (expression.edited_path, expression.texture_path):
            import cv2
            image = cv2.imread(str(path)).astype(int)
            chroma = image.max(axis=2) - image.min(axis=2)
            # A few levels at most: the skin-tone step's Lab round trip (a tinted mouth was 34).
            assert chroma.max() <= 5, (expression.name, path.name, chroma.max())


def test_grammar_prompts_never_load_the_sentence_model_and_free_text_loads_it_once(astronaut_png, tmp_path):
    from backend.engines import TEXT_MODEL_NOT_LOADED
    from backend.pipeline import prepare_subject, generate_expressions
    engines = Engines.load()  # its own: the module's engines may have loaded the model already
    assert not engines.text_model_loaded and engines.text_model_status() == TEXT_MODEL_NOT_LOADED
    prepared = prepare_subject(astronaut_png, "astronaut.png", engines)
    grammar = ["happy", "70% happy + 30% surprised", "AU12:0.8"]
    generate_expressions(prepared, grammar, tmp_path / "grammar", engines)
    assert read_expression_set(tmp_path / "grammar").names()[2:] == ["happy", "happy70_surprised30", "au12_80"]
    assert not engines.text_model_loaded and "text_model" not in engines.load_seconds

    generate_expressions(prepared, ["a delighted surprise"], tmp_path / "free", engines)
    assert engines.text_model_loaded and engines.text_model_status() == "loaded"
    model, load_seconds = engines.text_model(), engines.load_seconds["text_model"]
    emotions = read_expression_set(tmp_path / "free").expression("a_delighted_surprise").record["weights"]
    assert {"happy", "surprised"} <= set(emotions)
    generate_expressions(prepared, ["a faint smile", "happy"], tmp_path / "again", engines)
    assert engines.text_model() is model and engines.load_seconds["text_model"] == load_seconds  # not reloaded


def test_threads_asking_for_the_sentence_model_at_once_share_one_load():
    import threading
    engines = Engines.load()
    start, models = threading.Barrier(4), []

    def ask():
        start.wait()
        models.append(engines.text_model())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(models) == 4 and all(model is models[0] for model in models)
