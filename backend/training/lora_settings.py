"""The LoRA trainer's settings (the options of `promptface-backend train-lora`) and the checks that refuse settings
that cannot run before any model is loaded."""
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from addon.core.errors import PromptFaceError
from backend.editors.diffedit_settings import DiffEditSettings, missing_model_parts
from backend.training.expression_pairs import check_angles

MIXED_PRECISIONS = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class LoraTrainingSettings:
    model: str
    """A local diffusers-layout Stable Diffusion folder (unet, vae, text_encoder, tokenizer, scheduler): the model the
    diffedit editor will run with the adapter."""
    data: str
    """The training photos: a KDEF-layout folder, or a folder with pairs.csv (backend/training/expression_pairs.py)."""
    out: str
    """Folder for checkpoints/, pytorch_lora_weights.safetensors and training_summary.json."""
    rank: int = 16
    """LoRA rank r (lora_alpha = r, so the adapter's scale is 1)."""
    epochs: int = 50
    """Passes over the training pairs (counted in total, so a resumed run stops at the same epoch)."""
    learning_rate: float = 1e-4
    """AdamW learning rate, constant."""
    batch_size: int = 4
    """Pairs per forward pass."""
    gradient_accumulation: int = 1
    """Forward passes whose gradients are summed before one optimizer step."""
    mixed_precision: str = "no"
    """"no" (float32), "fp16" (CUDA only) or "bf16": the frozen model's dtype; the adapter trains in float32."""
    resolution: int = 512
    """Side of the square the photos are centre-cropped and resized to (a multiple of 8)."""
    seed: int = 0
    """Seeds the adapter's initialisation, the validation split, the shuffling, the noise and the timesteps."""
    validation_fraction: float = 0.1
    """Share of the identities (not of the pairs) held out for validation; 0 trains on everything."""
    angles: tuple[str, ...] = ("S",)
    """KDEF camera angles used (S straight, HL/HR half, FL/FR full profile)."""
    masked_weight: float = 2.0
    """Loss weight of the latent pixels the expression changes, relative to 1 elsewhere (1 turns weighting off)."""
    lpips_weights: str | None = None
    """A complete LPIPS state dict (backbone and linear layers), written once on a machine with the backbone weights by
    torch.save(lpips.LPIPS(net="alex").state_dict(), path); None trains without LPIPS."""
    lpips_weight: float = 0.1
    """Weight of the LPIPS term against the noise MSE."""
    prompt_template: str = DiffEditSettings.prompt_template
    """Turns the expression word into the training prompt; keep it equal to the editor's template."""
    keep_checkpoints: int = 2
    """Newest epoch checkpoints kept; the best-validation one is always kept as well."""
    resume: bool = False
    """Continue from the newest checkpoint in out/checkpoints (starts afresh when there is none)."""
    device: str | None = None
    """torch device; None picks CUDA when available, else CPU."""

    def resolved_device(self) -> torch.device:
        if self.device is None:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            return torch.device(self.device)
        except RuntimeError as error:
            raise PromptFaceError(f"LoraTrainingSettings.device {self.device!r} is not a torch device "
                                  "(e.g. cpu, cuda, cuda:1)") from error


def check_settings(settings: LoraTrainingSettings) -> torch.device:
    """Refuse settings that cannot run, naming the value; returns the device."""
    s = settings
    for name in ("rank", "epochs", "batch_size", "gradient_accumulation"):
        if getattr(s, name) < 1:
            raise PromptFaceError(f"LoraTrainingSettings.{name} must be at least 1, not {getattr(s, name)}")
    if not s.learning_rate > 0:
        raise PromptFaceError(f"LoraTrainingSettings.learning_rate must be positive, not {s.learning_rate}")
    if s.resolution < 8 or s.resolution % 8:
        raise PromptFaceError(f"LoraTrainingSettings.resolution must be a multiple of 8, not {s.resolution}")
    if not 0.0 <= s.validation_fraction < 1.0:
        raise PromptFaceError(f"LoraTrainingSettings.validation_fraction must be in [0, 1), not "
                              f"{s.validation_fraction}")
    if s.masked_weight < 1.0:
        raise PromptFaceError(f"LoraTrainingSettings.masked_weight must be at least 1 (1 = no extra weight on the "
                              f"changed region), not {s.masked_weight}")
    if s.lpips_weight < 0:
        raise PromptFaceError(f"LoraTrainingSettings.lpips_weight must not be negative, not {s.lpips_weight}")
    if s.keep_checkpoints < 1:
        raise PromptFaceError(f"LoraTrainingSettings.keep_checkpoints must be at least 1, not {s.keep_checkpoints}")
    if "{prompt}" not in s.prompt_template:
        raise PromptFaceError(f"LoraTrainingSettings.prompt_template must contain {{prompt}}: {s.prompt_template!r}")
    check_angles(s.angles)
    if s.mixed_precision not in MIXED_PRECISIONS:
        raise PromptFaceError(f"LoraTrainingSettings.mixed_precision must be one of {', '.join(MIXED_PRECISIONS)}, "
                              f"not {s.mixed_precision!r}")
    device = s.resolved_device()
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PromptFaceError(f"device {s.device!r} asked for CUDA, but torch sees no CUDA GPU here; use cpu")
    if s.mixed_precision == "fp16" and device.type != "cuda":
        raise PromptFaceError(f"mixed precision fp16 needs a CUDA GPU, but training runs on {device.type}; use "
                              "mixed_precision 'no' (float32) or 'bf16' there")
    if s.lpips_weights and not Path(s.lpips_weights).expanduser().is_file():
        raise PromptFaceError(f"LPIPS weights file {s.lpips_weights} does not exist; fix "
                              "LoraTrainingSettings.lpips_weights (--lpips-weights) or leave it empty to train "
                              "without LPIPS")
    model_folder(s)
    return device


def model_folder(settings: LoraTrainingSettings) -> Path:
    """The model folder, refused unless it holds every part training needs."""
    folder = Path(settings.model).expanduser()
    missing = missing_model_parts(folder)
    if missing:
        raise PromptFaceError(f"model folder {folder} is missing: {'; '.join(missing)}. Point "
                              "LoraTrainingSettings.model (--model) at the local diffusers-layout Stable Diffusion "
                              "folder the diffedit editor uses.")
    return folder


def settings_record(settings: LoraTrainingSettings) -> dict:
    record = asdict(settings)
    record["angles"] = list(settings.angles)
    return record
