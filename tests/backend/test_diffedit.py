"""The DiffEdit editor on a tiny random Stable Diffusion built offline (no Hub), against the deprecated reference."""
import numpy as np
import pytest
import torch

from addon.core.errors import PromptFaceError
from backend.editors.diffedit import DiffEditEditor
from backend.editors.diffedit_settings import DiffEditSettings
from backend.bench.random_diffusion import build_tiny_model
from waiting import finished, wait_for

SIZE = 64
STEPS = 4
# Tolerances against the reference pipeline (fp32, CPU, same batch order): the mask must be identical; measured here
# the inverted latents and the image were bit-identical too, the tolerances leave room for other CPUs' kernels.
# Batched vs one at a time changes the UNet's batch size, measured up to 1 grey level.
LATENT_ATOL = 1e-4
IMAGE_ATOL = 1  # uint8 grey levels


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_sd")
    build_tiny_model(folder)
    return folder


def tiny_settings(model_folder, **changes) -> DiffEditSettings:
    values = dict(model=str(model_folder), steps=STEPS, resolution=SIZE, maps_per_mask=3, seed=0,
                  device="cpu", dtype="float32")
    values.update(changes)
    return DiffEditSettings(**values)


@pytest.fixture(scope="module")
def editor(model_folder):
    return DiffEditEditor.from_pretrained(tiny_settings(model_folder))


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(0)
    gradient = np.linspace(0, 255, SIZE, dtype=np.float32)
    image = np.stack([gradient[None, :].repeat(SIZE, 0), gradient[:, None].repeat(SIZE, 1),
                      np.full((SIZE, SIZE), 128.0)], axis=-1)
    return np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)


class UNetCalls:
    """Counts UNet forward calls through a forward hook."""

    def __init__(self, unet):
        self.count = 0
        self.handle = unet.register_forward_hook(self.hook)

    def hook(self, module, inputs, output):
        self.count += 1

    def close(self):
        self.handle.remove()


@pytest.mark.slow
def test_matches_the_deprecated_reference_pipeline(editor, photo):
    from diffusers import StableDiffusionDiffEditPipeline

    s = editor.options
    reference = StableDiffusionDiffEditPipeline(
        vae=editor.vae, text_encoder=editor.text_encoder, tokenizer=editor.tokenizer, unet=editor.unet,
        scheduler=editor.scheduler.__class__.from_config(editor.scheduler.config),
        inverse_scheduler=editor.inverse_scheduler.__class__.from_config(editor.inverse_scheduler.config),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    reference.set_progress_bar_config(disable=True)
    editor.cache.entries.clear()
    ours = editor.edit(photo, ["happy"])[0]
    inversion = next(iter(editor.cache.entries.values()))
    latents = inversion.image_latents  # the reference samples the VAE posterior; give it our (mean) latents

    target = editor.target_prompt("happy")
    mask = reference.generate_mask(image=latents, source_prompt=s.source_prompt, target_prompt=target,
                                   num_maps_per_mask=s.maps_per_mask, mask_encode_strength=s.mask_encode_strength,
                                   mask_thresholding_ratio=s.mask_thresholding_ratio, num_inference_steps=s.steps,
                                   guidance_scale=s.guidance, generator=torch.Generator().manual_seed(s.seed))
    inverted = reference.invert(prompt=s.source_prompt, image=latents, num_inference_steps=s.steps,
                                inpaint_strength=s.inpaint_strength, guidance_scale=s.guidance).latents
    image = reference(prompt=target, mask_image=mask, image_latents=inverted, num_inference_steps=s.steps,
                      inpaint_strength=s.inpaint_strength, guidance_scale=s.guidance, output_type="np").images[0]

    assert 0 < ours.mask.sum() < ours.mask.size  # a real mask, not all or nothing
    np.testing.assert_array_equal(ours.mask, mask[0].astype(np.uint8))
    torch.testing.assert_close(inversion.inverted[:, 0], inverted[0], atol=LATENT_ATOL, rtol=0)
    reference_uint8 = (image * 255).round().astype(np.uint8)
    assert np.abs(ours.image.astype(int) - reference_uint8.astype(int)).max() <= IMAGE_ATOL


@pytest.mark.slow
def test_second_prompt_reuses_the_cached_inversion(editor, photo):
    inverse_steps = int(STEPS * editor.options.inpaint_strength)
    editor.cache.entries.clear()
    calls = UNetCalls(editor.unet)
    try:
        editor.edit(photo, ["happy"])
        first = calls.count
        calls.count = 0
        cached = editor.edit(photo, ["angry"])[0]
        second = calls.count
    finally:
        calls.close()
    assert first == 1 + 2 * inverse_steps       # mask, inversion, denoising
    assert second == first - inverse_steps      # no inversion work
    editor.cache.entries.clear()
    uncached = editor.edit(photo, ["angry"])[0]
    np.testing.assert_array_equal(cached.image, uncached.image)
    np.testing.assert_array_equal(cached.mask, uncached.mask)


@pytest.mark.slow
def test_batched_prompts_equal_one_at_a_time(editor, photo):
    prompts = ["happy", "angry", "surprised"]
    batched = editor.edit(photo, prompts)
    for prompt, together in zip(prompts, batched, strict=True):
        alone = editor.edit(photo, [prompt])[0]
        assert together.prompt == alone.prompt
        np.testing.assert_array_equal(together.mask, alone.mask)
        assert np.abs(together.image.astype(int) - alone.image.astype(int)).max() <= IMAGE_ATOL


def test_missing_model_folder_names_what_is_missing(tmp_path, model_folder):
    with pytest.raises(PromptFaceError, match=r"--diffedit-model \(DiffEditSettings\.model\)") as error:
        DiffEditEditor.from_pretrained(tiny_settings(tmp_path / "nowhere"))
    for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert part in str(error.value)

    partial = tmp_path / "partial"
    partial.mkdir()
    for part in ("unet", "tokenizer", "scheduler"):
        (partial / part).symlink_to(model_folder / part)
    with pytest.raises(PromptFaceError) as error:
        DiffEditEditor.from_pretrained(tiny_settings(partial))
    message = str(error.value)
    assert "vae" in message and "text_encoder" in message and "unet/config.json" not in message


def test_uncached_hub_id_is_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(PromptFaceError, match="without downloading"):
        DiffEditEditor.from_pretrained(DiffEditSettings(model="nobody/not-a-model", device="cpu"))


def test_bad_settings_are_refused(model_folder):
    with pytest.raises(PromptFaceError, match="inpaint_strength"):
        DiffEditEditor.from_pretrained(tiny_settings(model_folder, inpaint_strength=0.1))


@pytest.mark.slow
def test_paste_back_keeps_the_photo_outside_the_mask(model_folder, photo):
    from types import SimpleNamespace

    from addon.core.prompt_grammar import parse_prompt
    from backend.editors.editing import EditRequest
    from backend.prompts.text_to_action_units import ExpressionIntent

    subject = SimpleNamespace(crop=photo)
    request = EditRequest("happy", ExpressionIntent(parse_prompt("happy"), {"AU12": 1.0}, {"happy": 1.0}))
    pasted = DiffEditEditor.from_pretrained(tiny_settings(model_folder)).edit_batch(subject, [request])[0]
    editor = DiffEditEditor.from_pretrained(tiny_settings(model_folder, paste_back=False))
    raw = editor.edit_batch(subject, [request])[0]
    outside = pasted.diagnostics["diffedit_mask"] == 0
    inside = pasted.diagnostics["diffedit_mask"] == 255
    assert outside.any() and inside.any()
    np.testing.assert_array_equal(pasted.image[outside], photo[outside])
    np.testing.assert_array_equal(pasted.image[inside], raw.image[inside])
    assert not np.array_equal(raw.image[outside], photo[outside])  # the VAE round trip alone would change them
    assert pasted.full_prompt == "a person with a happy facial expression" and pasted.landmarks_px is None


def test_command_line_options_become_typed_settings():
    from backend.editors.diffedit_settings import settings_from_options

    settings = settings_from_options(["steps=25", "guidance=5", "paste-back=off", "dtype=float16", "lora="], model="m")
    assert (settings.steps, settings.guidance, settings.paste_back, settings.dtype, settings.lora) == \
        (25, 5.0, False, "float16", None)
    with pytest.raises(PromptFaceError, match="known key.*inpaint_strength"):
        settings_from_options(["strength=0.5"])
    with pytest.raises(PromptFaceError, match="true or false"):
        settings_from_options(["vae_tiling=maybe"])


def test_a_missing_lora_file_is_named(model_folder, tmp_path):
    with pytest.raises(PromptFaceError, match=r"nowhere\.safetensors does not exist.*train-lora"):
        DiffEditEditor.from_pretrained(tiny_settings(model_folder, lora=str(tmp_path / "nowhere.safetensors")))


@pytest.mark.slow
def test_the_pipeline_runs_end_to_end_with_the_diffedit_editor(model_folder, astronaut_png, tmp_path):
    """generate --editor diffedit --reconstructor landmarks on the sample photo, with the tiny random model.

    The tiny model paints noise inside its mask (a GPU and real weights are what cannot exist here), so this checks the
    wiring: one batch for all prompts, landmarks re-detected on the pasted-back photo, a valid set, the mask saved.
    At 128 px the random mask covers about 30 % of the face and FaceMesh still finds it.
    """
    from addon.core.expression_set import read_expression_set
    from backend.engines import Engines
    from backend.pipeline import PipelineOptions, generate

    settings = tiny_settings(model_folder, resolution=128)
    engines = Engines.load("diffedit", diffedit=settings)
    editor = engines.editor_for("diffedit")
    calls = UNetCalls(editor.unet)
    prompts = ["happy", "a delighted surprise", "AU1:0.8 AU2:0.8"]
    try:
        path = generate(astronaut_png, "astronaut.png", prompts, tmp_path / "set", engines,
                        PipelineOptions(editor="diffedit", diagnostics=True))
    finally:
        calls.close()
    inverse_steps = int(STEPS * settings.inpaint_strength)
    assert calls.count == 1 + 2 * inverse_steps  # one mask batch, one inversion, one denoising batch for 3 prompts
    expression_set = read_expression_set(path)
    manifest = expression_set.manifest
    assert manifest["engines"]["editor"]["name"] == "diffedit"
    assert manifest["engines"]["editor"]["settings"]["device"] == "cpu"
    edited = [entry for entry in manifest["expressions"] if entry["name"] not in ("neutral", "as_photographed")]
    assert [entry["prompt"] for entry in edited] == prompts
    assert edited[1]["full_prompt"] == "a person with a delighted surprise facial expression"
    assert all(entry["metrics"]["landmarks_source"] == "detected" for entry in edited)
    for entry in edited:
        assert (path / "diagnostics" / f"{entry['name']}.diffedit_mask.png").is_file()


def test_attention_slicing_changes_memory_not_results(model_folder, photo):
    plain = DiffEditEditor.from_pretrained(tiny_settings(model_folder)).edit(photo, ["happy"])[0]
    sliced = DiffEditEditor.from_pretrained(tiny_settings(model_folder, attention_slicing=True, vae_tiling=True)
                                            ).edit(photo, ["happy"])[0]
    np.testing.assert_array_equal(plain.mask, sliced.mask)
    assert np.abs(plain.image.astype(int) - sliced.image.astype(int)).max() <= IMAGE_ATOL


def test_a_server_configured_with_diffedit_lists_it_and_runs_its_jobs(model_folder, astronaut_png, tmp_path):
    """The service as `serve --diffedit-model` builds it (the tiny model stands in for Stable Diffusion)."""
    from addon.core.expression_set import read_expression_set
    from addon.core.protocol import JobRequest
    from backend.engines import Engines
    from backend.serving.service import Service
    from backend.settings import Settings

    settings = tiny_settings(model_folder, resolution=128)
    service = Service(Settings(data_dir=tmp_path), engines_factory=lambda: Engines.load(diffedit=settings))
    service.start()
    try:
        subject = service.create_subject(astronaut_png, "astronaut.png")  # returns once the engines are loaded
        listed = {engine.name: engine for engine in service.engines().engines}
        assert listed["diffedit"].available and listed["warp"].available
        job = service.create_job(JobRequest(subject_id=subject.subject_id, prompts=["happy", "sad"],
                                            editor="diffedit"))
        status = wait_for(lambda: service.job_status(job.job_id), finished, timeout=120)
        assert status.status == "succeeded", status.error
        manifest = read_expression_set(service.set_zip_path(job.job_id)).manifest
        assert manifest["engines"]["editor"]["name"] == "diffedit"
    finally:
        service.stop()
