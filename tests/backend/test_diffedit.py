"""The DiffEdit editor on a tiny random Stable Diffusion built offline (no Hub), against the deprecated reference."""
import json

import numpy as np
import pytest
import torch

from addon.core.errors import PromptFaceError
from backend.editors.diffedit import DiffEditEditor, DiffEditSettings

SIZE = 64
STEPS = 4
# Tolerances against the reference pipeline (fp32, CPU, same batch order): the mask must be identical; measured here
# the inverted latents and the image were bit-identical too, the tolerances leave room for other CPUs' kernels.
# Batched vs one at a time changes the UNet's batch size, measured up to 1 grey level.
LATENT_ATOL = 1e-4
IMAGE_ATOL = 1  # uint8 grey levels


def byte_characters() -> list[str]:
    """The 256 printable stand-ins byte-level BPE tokenizers use for bytes (GPT-2's byte-to-unicode table)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = [], 0
    for byte in range(256):
        if byte in printable:
            codes.append(byte)
        else:
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def write_tokenizer(folder) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    chars = byte_characters()
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")


def build_tiny_model(folder) -> None:
    """Write a diffusers-layout tiny random Stable Diffusion (facts §7) into folder."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4,
                         out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                         up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                         attention_head_dim=(2, 4), use_linear_projection=True).save_pretrained(folder / "unet")
    DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                  set_alpha_to_one=False, steps_offset=1).save_pretrained(folder / "scheduler")
    torch.manual_seed(0)
    AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                  down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                  latent_channels=4, sample_size=128).save_pretrained(folder / "vae")
    torch.manual_seed(0)
    CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37,
                                 layer_norm_eps=1e-5, num_attention_heads=4, num_hidden_layers=5, pad_token_id=1,
                                 vocab_size=1000, hidden_act="gelu", projection_dim=512)
                  ).save_pretrained(folder / "text_encoder")
    write_tokenizer(folder / "tokenizer_files")
    CLIPTokenizer.from_pretrained(folder / "tokenizer_files", model_max_length=77).save_pretrained(folder / "tokenizer")


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


def test_batched_prompts_equal_one_at_a_time(editor, photo):
    prompts = ["happy", "angry", "surprised"]
    batched = editor.edit(photo, prompts)
    for prompt, together in zip(prompts, batched):
        alone = editor.edit(photo, [prompt])[0]
        assert together.prompt == alone.prompt
        np.testing.assert_array_equal(together.mask, alone.mask)
        assert np.abs(together.image.astype(int) - alone.image.astype(int)).max() <= IMAGE_ATOL


def test_missing_model_folder_names_what_is_missing(tmp_path, model_folder):
    with pytest.raises(PromptFaceError, match=r"DiffEditSettings\.model") as error:
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
