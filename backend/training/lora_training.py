"""LoRA training for the DiffEdit editor's UNet (thesis §3.1; peft's LoRA on the attention projections, as diffusers'
text-to-image LoRA recipe does): `promptface-backend train-lora`.

The objective, exactly
----------------------
For a pair (neutral photo N, expression photo E, expression word p) with scaled VAE latents z_N, z_E (posterior
means) and the prompt c = "a person with a {p} facial expression" (the editor's template):

    ε ~ N(0, I),  t ~ U{0 … T−1},  x_t = √ᾱ_t · z_E + √(1−ᾱ_t) · ε        (DDPM add_noise, the model's scheduler config)
    loss = Σ_pixels w · (ε̂(x_t, t, c) − ε)² / (C · Σ_pixels w)          per sample, then the batch mean

(for a v-prediction model the target is the velocity instead of ε). This is the standard text-to-image LoRA objective
with the expression photo's latents as the goal: the noisy input is built from the TARGET latents, not the neutral ones.

Why not noise the neutral latents and regress the "noise" that leads to the target: that target is
ε + √ᾱ_t/√(1−ᾱ_t) · (z_N − z_E), whose second term grows without bound as t → 0, so the loss would be dominated by
low-noise steps and teach an output that is no longer a noise prediction — while DiffEdit uses the UNet's output only
as a noise prediction (for its mask, the DDIM inversion and the denoising). What DiffEdit needs from the adapter is a
target-prompt noise prediction that pulls towards photos with that expression, which is what denoising score matching
on the expression photos teaches.

The neutral photo enters through the weight map w (latent resolution): d = channel mean of |z_E − z_N|, clamped at
mean(d) · 3 and divided by that clamp (DiffEdit's normalisation of its own mask), thresholded at 0.5 — the region the
expression changes (mouth, brows, eyes) — then softened by a 3×3 box blur m ∈ [0,1], and w = 1 + (masked_weight − 1)·m.
Dividing by Σw keeps the loss a weighted mean, so its scale does not depend on how large the changed region is.

Optional LPIPS term (when a weights file is configured and the `lpips` package imports): the clean image predicted
from x_t is decoded by the (frozen) VAE and compared with the expression photo; the term is scaled per sample by ᾱ_t,
because at high noise the one-step prediction is necessarily blurry and would only add noise to the gradient.

Epoch e draws its shuffling, noise and timesteps from a generator seeded with (seed, e), and the validation pairs get
one fixed draw of noise and timesteps, so validation losses compare across epochs and a resumed run repeats what an
uninterrupted one would have done. Never save the UNet after `add_adapter`: a UNet carrying PEFT layers saves
`base_layer`/`lora_A` keys that reload into silently re-initialised weights; only the adapter is written.
"""
import json
import logging
import math
import pickle
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from addon.core.atomic_files import move_folder_into_place, staged_file, write_bytes_atomically
from addon.core.errors import PromptFaceError
from backend.editors.diffedit import LORA_FILE_NAME, DiffEditSettings, missing_model_parts
from backend.subject.photo_io import load_photo
from backend.training.expression_pairs import (
    DataSplit, ExpressionPair, PairSearch, check_angles, find_pairs, split_by_identity,
)

logger = logging.getLogger(__name__)

MIXED_PRECISIONS = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
LORA_TARGET_MODULES = ["to_k", "to_q", "to_v", "to_out.0"]
CHANGE_CLAMP_RATIO = 3.0   # as DiffEdit's mask_thresholding_ratio
MAX_GRAD_NORM = 1.0
CHECKPOINTS = "checkpoints"
CHECKPOINT_NAME = re.compile(r"^epoch-(\d{3,})$")
CHECKPOINT_ADAPTER = "adapter.safetensors"
CHECKPOINT_STATE = "trainer_state.pt"
SUMMARY_NAME = "training_summary.json"
# Settings a resumed run must share with the checkpoint: the adapter's shape, the latents and the data split.
RESUME_MUST_MATCH = ("model", "rank", "resolution", "seed", "validation_fraction", "angles", "masked_weight",
                     "prompt_template")

Progress = Callable[[int, int, float | None, str], None]
"""(epoch, optimizer step, loss or None, message) — called after each optimizer step and each epoch."""


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


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    step: int
    """Optimizer steps taken in total at the end of the epoch."""
    train_loss: float
    validation_loss: float | None
    seconds: float


@dataclass
class TrainerState:
    """What a checkpoint carries besides the adapter and the optimizer."""
    epoch: int = 0
    step: int = 0
    best_epoch: int | None = None
    best_validation: float | None = None
    history: list[EpochRecord] = field(default_factory=list)


@dataclass(frozen=True)
class LoraTrainingResult:
    adapter: Path
    """out/pytorch_lora_weights.safetensors: the best epoch's adapter, keys `unet.…` (DiffEditSettings.lora)."""
    summary: Path
    history: list[EpochRecord]
    best_epoch: int
    lpips: str
    """"LPIPS on: …" or "LPIPS off: <reason>"."""


@dataclass
class ModelParts:
    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    noise_scheduler: object     # diffusers DDPMScheduler built from the model's scheduler config


@dataclass(frozen=True)
class EncodedPairs:
    """Pairs encoded once (the VAE and the text encoder are frozen), on the training device."""
    target_latents: torch.Tensor        # (N,C,h,w) float32 scaled latents of the expression photos
    weights: torch.Tensor               # (N,1,h,w) float32 loss weights (change_weights)
    prompt_embeds: torch.Tensor         # (P,L,D) text-encoder states of the distinct prompts
    prompt_index: torch.Tensor          # (N,) long, row of prompt_embeds for each pair
    target_pixels: torch.Tensor | None  # (N,3,H,W) uint8 expression photos, kept only for LPIPS

    def __len__(self) -> int:
        return self.target_latents.shape[0]

    def batch(self, indices: torch.Tensor) -> "Batch":
        pixels = None if self.target_pixels is None else self.target_pixels[indices].float() / 127.5 - 1.0
        return Batch(self.target_latents[indices], self.weights[indices],
                     self.prompt_embeds[self.prompt_index[indices]], pixels)


@dataclass(frozen=True)
class Batch:
    target_latents: torch.Tensor        # (B,C,h,w)
    weights: torch.Tensor               # (B,1,h,w)
    embeds: torch.Tensor                # (B,L,D)
    target_pixels: torch.Tensor | None  # (B,3,H,W) in [-1,1], only for LPIPS


@dataclass(frozen=True)
class LossTerms:
    total: torch.Tensor   # (B,) per-sample loss
    mse: torch.Tensor     # (B,) weighted noise-prediction MSE
    lpips: torch.Tensor | None


# --- checks and loading -------------------------------------------------------------------------------------------


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


def load_model_parts(settings: LoraTrainingSettings, device: torch.device, dtype: torch.dtype) -> ModelParts:
    """The frozen Stable Diffusion parts from a local diffusers-layout folder; never downloads."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    folder = model_folder(settings)
    try:
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=dtype)
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=dtype)
        text_encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", torch_dtype=dtype)
        tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")
        noise_scheduler = DDPMScheduler.from_pretrained(folder, subfolder="scheduler")
    except (OSError, ValueError) as error:
        raise PromptFaceError(f"model folder {folder} could not be loaded: {str(error).splitlines()[0][:200]}"
                              ) from error
    for module in (unet, vae, text_encoder):
        module.requires_grad_(False)
        module.to(device).eval()
    return ModelParts(unet, vae, text_encoder, tokenizer, noise_scheduler)


def load_lpips(settings: LoraTrainingSettings, device: torch.device) -> tuple[torch.nn.Module | None, str]:
    """The LPIPS network when configured and importable, and the status line ("LPIPS on: …" / "LPIPS off: …")."""
    if not settings.lpips_weights:
        return None, "LPIPS off: no LPIPS weights file configured (LoraTrainingSettings.lpips_weights, " \
                     "--lpips-weights)"
    if settings.lpips_weight == 0:
        return None, "LPIPS off: lpips_weight is 0"
    try:
        import lpips
    except ImportError as error:
        return None, f"LPIPS off: the lpips package is not importable ({error}); install it to use " \
                     f"{settings.lpips_weights}"
    path = Path(settings.lpips_weights).expanduser()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise PromptFaceError(f"LPIPS weights {path} cannot be read as a torch state dict "
                              f"({str(error).splitlines()[0][:160]}); fix LoraTrainingSettings.lpips_weights "
                              "(--lpips-weights)") from error
    if not isinstance(state, dict):
        raise PromptFaceError(f"LPIPS weights {path} hold a {type(state).__name__}, not a state dict")
    if any(key.startswith("lin5.") for key in state):
        net = "squeeze"
    elif getattr(state.get("net.slice1.0.weight"), "shape", (0,))[-1] == 11:
        net = "alex"
    else:
        net = "vgg"
    # pnet_rand and pretrained=False: build the network without torchvision downloading its backbone; every weight
    # then comes from the file, loaded strictly.
    model = lpips.LPIPS(net=net, pretrained=False, pnet_rand=True, verbose=False)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise PromptFaceError(
            f"LPIPS weights {path} are not a complete LPIPS ({net}) state dict: {len(result.missing_keys)} missing "
            f"(e.g. {', '.join(result.missing_keys[:3]) or '-'}), {len(result.unexpected_keys)} unexpected. The lpips "
            "package's own weights file holds only the linear layers; write a complete one with "
            "torch.save(lpips.LPIPS(net='alex').state_dict(), path) where the backbone weights are available.")
    model.requires_grad_(False)
    return model.to(device).eval(), f"LPIPS on: {path.name} ({net}), weight {settings.lpips_weight}"


# --- data ---------------------------------------------------------------------------------------------------------


def square_image(path: Path, resolution: int) -> np.ndarray:
    """(resolution, resolution, 3) uint8: the photo centre-cropped to a square and resized."""
    image = load_photo(path)
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[top:top + side, left:left + side]
    if side == resolution:
        return np.ascontiguousarray(square)
    interpolation = cv2.INTER_AREA if side > resolution else cv2.INTER_CUBIC
    return cv2.resize(square, (resolution, resolution), interpolation=interpolation)


def change_weights(neutral: torch.Tensor, target: torch.Tensor, masked_weight: float) -> torch.Tensor:
    """(N,1,h,w) loss weights from (N,C,h,w) latents: 1 where the pair agrees, up to masked_weight where it changes."""
    difference = (target - neutral).abs().mean(dim=1, keepdim=True)
    clamp = difference.mean(dim=(2, 3), keepdim=True).clamp_min(1e-8) * CHANGE_CLAMP_RATIO
    changed = (torch.minimum(difference, clamp) / clamp > 0.5).float()
    soft = F.avg_pool2d(changed, 3, stride=1, padding=1, count_include_pad=False)
    return 1.0 + (masked_weight - 1.0) * soft


@torch.no_grad()
def encode_prompts(parts: ModelParts, prompts: list[str], device: torch.device) -> torch.Tensor:
    """(P,L,D) float32 text-encoder states, padded to the tokenizer's maximum length as the editor does."""
    tokens = parts.tokenizer(prompts, padding="max_length", max_length=parts.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt")
    return parts.text_encoder(tokens.input_ids.to(device))[0].float()


@torch.no_grad()
def encode_pairs(parts: ModelParts, pairs: list[ExpressionPair], settings: LoraTrainingSettings,
                 device: torch.device, keep_pixels: bool = False) -> EncodedPairs:
    """Latents, weight maps and prompt states of the pairs; each photo is read and encoded once."""
    vae = parts.vae
    latents_of: dict[Path, torch.Tensor] = {}
    pixels_of: dict[Path, torch.Tensor] = {}

    def encode(path: Path) -> torch.Tensor:
        if path not in latents_of:
            image = torch.from_numpy(square_image(path, settings.resolution)).permute(2, 0, 1)
            if keep_pixels:
                pixels_of[path] = image
            scaled = (image[None].to(device, vae.dtype) / 127.5) - 1.0
            latents_of[path] = (vae.encode(scaled).latent_dist.mean * vae.config.scaling_factor).float()[0]
        return latents_of[path]

    neutral = torch.stack([encode(pair.neutral) for pair in pairs])
    target = torch.stack([encode(pair.expression) for pair in pairs])
    prompts = sorted({pair.prompt for pair in pairs})
    embeds = encode_prompts(parts, [settings.prompt_template.format(prompt=p) for p in prompts], device)
    index = torch.tensor([prompts.index(pair.prompt) for pair in pairs], device=device)
    pixels = torch.stack([pixels_of[pair.expression] for pair in pairs]).to(device) if keep_pixels else None
    return EncodedPairs(target, change_weights(neutral, target, settings.masked_weight), embeds, index, pixels)


# --- the objective ------------------------------------------------------------------------------------------------


def add_lora(unet: torch.nn.Module, rank: int, seed: int) -> list[torch.nn.Parameter]:
    """Attach a fresh LoRA adapter to the frozen UNet; returns its trainable parameters (float32)."""
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    with torch.random.fork_rng(devices=[]):  # seeds the Gaussian initialisation of lora_A, leaves the global RNG be
        torch.manual_seed(seed)
        unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                    target_modules=LORA_TARGET_MODULES))
    cast_training_params(unet, torch.float32)
    return [parameter for parameter in unet.parameters() if parameter.requires_grad]


class Objective:
    """The training loss (module docstring): weighted noise MSE, plus LPIPS on the decoded clean prediction."""

    def __init__(self, unet, noise_scheduler, device: torch.device, dtype: torch.dtype, vae=None, lpips=None,
                 lpips_weight: float = 0.0):
        self.unet, self.scheduler, self.vae, self.lpips = unet, noise_scheduler, vae, lpips
        self.device, self.dtype, self.lpips_weight = device, dtype, lpips_weight
        self.alphas = noise_scheduler.alphas_cumprod.to(device=device, dtype=torch.float32)
        self.v_prediction = noise_scheduler.config.prediction_type == "v_prediction"

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32)

    def __call__(self, batch: Batch, noise: torch.Tensor, timesteps: torch.Tensor) -> LossTerms:
        """Per-sample losses; noise (B,C,h,w) and timesteps (B,) are drawn by the caller (seeded)."""
        latents = batch.target_latents
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        goal = self.scheduler.get_velocity(latents, noise, timesteps) if self.v_prediction else noise
        with self.autocast():
            predicted = self.unet(noisy.to(self.dtype), timesteps, encoder_hidden_states=batch.embeds.to(self.dtype)
                                  ).sample.float()
        weights = batch.weights
        mse = (weights * (predicted - goal) ** 2).sum(dim=(1, 2, 3)) / (weights.sum(dim=(1, 2, 3)) * latents.shape[1])
        if self.lpips is None:
            return LossTerms(mse, mse, None)
        alpha = self.alphas[timesteps].view(-1, 1, 1, 1)
        if self.v_prediction:
            clean = alpha.sqrt() * noisy - (1 - alpha).sqrt() * predicted
        else:
            clean = (noisy - (1 - alpha).sqrt() * predicted) / alpha.sqrt()
        with self.autocast():
            decoded = self.vae.decode((clean / self.vae.config.scaling_factor).to(self.dtype)).sample.float()
            perceptual = self.lpips(decoded, batch.target_pixels).float().flatten()
        lpips_term = alpha.flatten() * perceptual
        return LossTerms(mse + self.lpips_weight * lpips_term, mse, lpips_term)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of epoch `epoch` (shuffling, noise, timesteps): a resumed run draws what an unbroken one would."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def draw_noise(generator: torch.Generator, latents_shape, timesteps: int, device: torch.device
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,C,h,w) noise and (B,) timesteps in [0, timesteps), drawn on the CPU so any device gets the same values."""
    noise = torch.randn(latents_shape, generator=generator)
    steps = torch.randint(0, timesteps, (latents_shape[0],), generator=generator)
    return noise.to(device), steps.to(device)


@torch.no_grad()
def validation_loss(objective: Objective, data: EncodedPairs, batch_size: int, noise: torch.Tensor,
                    timesteps: torch.Tensor) -> float:
    """Mean loss over the validation pairs with their fixed noise (N,C,h,w) and timesteps (N,)."""
    total = 0.0
    for start in range(0, len(data), batch_size):
        indices = torch.arange(start, min(start + batch_size, len(data)), device=noise.device)
        total += objective(data.batch(indices), noise[indices], timesteps[indices]).total.sum().item()
    return total / len(data)


# --- checkpoints --------------------------------------------------------------------------------------------------


def checkpoint_folder(out: Path, epoch: int) -> Path:
    return out / CHECKPOINTS / f"epoch-{epoch:03d}"


def saved_epochs(out: Path) -> list[int]:
    """Epochs with a complete checkpoint, ascending."""
    folder = out / CHECKPOINTS
    if not folder.is_dir():
        return []
    epochs = []
    for child in folder.iterdir():
        match = CHECKPOINT_NAME.match(child.name)
        if match and (child / CHECKPOINT_ADAPTER).is_file() and (child / CHECKPOINT_STATE).is_file():
            epochs.append(int(match.group(1)))
    return sorted(epochs)


def save_checkpoint(out: Path, unet, optimizer, scaler, state: TrainerState, settings: LoraTrainingSettings) -> Path:
    """out/checkpoints/epoch-NNN/: the adapter (PEFT keys) and the trainer state, written under a temporary name."""
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    final = checkpoint_folder(out, state.epoch)
    partial = final.with_name(final.name + ".partial")  # one fixed name: a crash's leftover is cleared next time
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    adapter = {key: value.detach().float().cpu().contiguous() for key, value in get_peft_model_state_dict(unet).items()}
    save_file(adapter, partial / CHECKPOINT_ADAPTER)
    torch.save({"epoch": state.epoch, "step": state.step, "best_epoch": state.best_epoch,
                "best_validation": state.best_validation, "history": [asdict(r) for r in state.history],
                "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                "settings": settings_record(settings)}, partial / CHECKPOINT_STATE)
    move_folder_into_place(partial, final)
    return final


def read_trainer_state(folder: Path) -> dict:
    return torch.load(folder / CHECKPOINT_STATE, map_location="cpu", weights_only=True)


def check_resumable(saved: dict, settings: LoraTrainingSettings, folder: Path) -> None:
    """Refuse to resume with settings that change the adapter's shape, the latents or the data split."""
    now = settings_record(settings)
    for name in RESUME_MUST_MATCH:
        if saved["settings"].get(name) != now[name]:
            raise PromptFaceError(f"checkpoint {folder} was trained with {name} = {saved['settings'].get(name)!r}, "
                                  f"these settings say {now[name]!r}; use the same value to resume, or train into "
                                  "another out folder")


def restore_checkpoint(folder: Path, unet, optimizer, scaler) -> TrainerState:
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    saved = read_trainer_state(folder)
    result = set_peft_model_state_dict(unet, load_file(folder / CHECKPOINT_ADAPTER))
    if getattr(result, "unexpected_keys", None):
        raise PromptFaceError(f"checkpoint {folder} does not fit this adapter: unexpected "
                              f"{', '.join(result.unexpected_keys[:3])}")
    optimizer.load_state_dict(saved["optimizer"])
    scaler.load_state_dict(saved["scaler"])
    return TrainerState(epoch=saved["epoch"], step=saved["step"], best_epoch=saved["best_epoch"],
                        best_validation=saved["best_validation"],
                        history=[EpochRecord(**record) for record in saved["history"]])


def prune_checkpoints(out: Path, keep: int, best_epoch: int | None) -> None:
    """Delete all but the newest `keep` checkpoints and the best one."""
    epochs = saved_epochs(out)
    kept = set(epochs[-keep:]) | ({best_epoch} if best_epoch is not None else set())
    for epoch in epochs:
        if epoch not in kept:
            shutil.rmtree(checkpoint_folder(out, epoch))


def export_adapter(checkpoint: Path, out: Path, rank: int) -> Path:
    """Write the checkpoint's adapter as out/pytorch_lora_weights.safetensors in diffusers' format (keys `unet.…`)."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from safetensors.torch import load_file

    layers = convert_state_dict_to_diffusers(load_file(checkpoint / CHECKPOINT_ADAPTER))
    config = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=LORA_TARGET_MODULES)
    target = out / LORA_FILE_NAME
    with staged_file(target) as staging:
        StableDiffusionPipeline.save_lora_weights(staging.parent, weight_name=staging.name, unet_lora_layers=layers,
                                                  safe_serialization=True,
                                                  unet_lora_adapter_metadata=config.to_dict())
    return target


def settings_record(settings: LoraTrainingSettings) -> dict:
    record = asdict(settings)
    record["angles"] = list(settings.angles)
    return record


def write_summary(out: Path, settings: LoraTrainingSettings, search: PairSearch, split: DataSplit,
                  state: TrainerState, best_epoch: int, lpips_status: str, adapter: Path, device: torch.device) -> Path:
    summary = {
        "settings": settings_record(settings),
        "device": str(device),
        "data": {"layout": search.layout, "pairs": len(search.pairs), "train_pairs": len(split.train),
                 "validation_pairs": len(split.validation), "train_identities": split.train_identities,
                 "validation_identities": split.validation_identities, "notes": search.notes()},
        "objective": "weighted MSE of the UNet's noise prediction on noised expression latents "
                     f"(masked_weight {settings.masked_weight}); see backend/training/lora_training.py",
        "lpips": {"enabled": lpips_status.startswith("LPIPS on"), "status": lpips_status},
        "epochs": [asdict(record) for record in state.history],
        "best_epoch": best_epoch,
        "best_validation_loss": state.best_validation,
        "best_chosen_by": "validation loss" if split.validation else "last epoch (no validation identities)",
        "adapter": str(adapter),
    }
    return write_bytes_atomically(out / SUMMARY_NAME, json.dumps(summary, indent=2).encode())


# --- training -----------------------------------------------------------------------------------------------------


def train_lora(settings: LoraTrainingSettings, progress: Progress | None = None) -> LoraTrainingResult:
    """Train a LoRA adapter on neutral → expression pairs and export the best epoch's adapter (see module docstring)."""
    def report(epoch: int, step: int, loss: float | None, message: str) -> None:
        if message:
            logger.info(message)
        if progress is not None:
            progress(epoch, step, loss, message)

    # 1. check settings
    device = check_settings(settings)
    dtype = MIXED_PRECISIONS[settings.mixed_precision]
    out = Path(settings.out).expanduser()

    # 2. find the pairs and split them by identity
    search = find_pairs(settings.data, settings.angles)
    split = split_by_identity(search.pairs, settings.validation_fraction, settings.seed)
    for note in search.notes():
        report(0, 0, None, note)
    report(0, 0, None, f"{len(split.train)} training pairs (identities: {len(split.train_identities)}), "
                       f"{len(split.validation)} validation pairs (identities: {len(split.validation_identities)})")

    # 3. the checkpoint to resume from; never train over an earlier run unasked
    epochs_on_disk = saved_epochs(out)
    resume_from = None
    if epochs_on_disk and not settings.resume:
        raise PromptFaceError(f"{out} already holds checkpoints up to epoch {epochs_on_disk[-1]}; resume them "
                              "(LoraTrainingSettings.resume, --resume) or train into another out folder")
    if settings.resume:
        if epochs_on_disk:
            resume_from = checkpoint_folder(out, epochs_on_disk[-1])
            check_resumable(read_trainer_state(resume_from), settings, resume_from)
        else:
            report(0, 0, None, f"no checkpoint in {out / CHECKPOINTS}; starting at epoch 1")

    # 4. the frozen model, LPIPS if configured
    parts = load_model_parts(settings, device, dtype)
    lpips_model, lpips_status = load_lpips(settings, device)
    report(0, 0, None, lpips_status)

    # 5. encode photos and prompts once
    keep_pixels = lpips_model is not None
    train_data = encode_pairs(parts, split.train, settings, device, keep_pixels)
    validation_data = encode_pairs(parts, split.validation, settings, device, keep_pixels) if split.validation \
        else None
    parts.text_encoder = None  # no longer needed; frees its memory
    if not keep_pixels:
        parts.vae = None
    timesteps_total = parts.noise_scheduler.config.num_train_timesteps
    if validation_data is not None:
        fixed = draw_noise(torch.Generator().manual_seed(settings.seed), validation_data.target_latents.shape,
                           timesteps_total, device)

    # 6. the adapter and its optimizer, restored when resuming
    parameters = add_lora(parts.unet, settings.rank, settings.seed)
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate)
    scaler = torch.amp.GradScaler(device.type, enabled=settings.mixed_precision == "fp16")
    state = TrainerState()
    if resume_from is not None:
        state = restore_checkpoint(resume_from, parts.unet, optimizer, scaler)
        report(state.epoch, state.step, None, f"resumed from {resume_from} (epoch {state.epoch}, step {state.step})")
    objective = Objective(parts.unet, parts.noise_scheduler, device, dtype, vae=parts.vae if keep_pixels else None,
                          lpips=lpips_model, lpips_weight=settings.lpips_weight)

    # 7. epochs: train, validate, checkpoint
    for epoch in range(state.epoch + 1, settings.epochs + 1):
        started = time.perf_counter()
        train_loss = train_epoch(objective, train_data, optimizer, scaler, parameters, settings, epoch, state,
                                 timesteps_total, report)
        parts.unet.eval()
        validation = None if validation_data is None else validation_loss(
            objective, validation_data, settings.batch_size, *fixed)
        state.epoch = epoch
        is_best = validation is not None and (state.best_validation is None or validation < state.best_validation)
        if is_best:
            state.best_epoch, state.best_validation = epoch, validation
        elif validation is None:
            state.best_epoch = epoch
        state.history.append(EpochRecord(epoch, state.step, train_loss, validation,
                                         round(time.perf_counter() - started, 3)))
        save_checkpoint(out, parts.unet, optimizer, scaler, state, settings)
        prune_checkpoints(out, settings.keep_checkpoints, state.best_epoch)
        shown = "-" if validation is None else f"{validation:.5f}"
        report(epoch, state.step, train_loss, f"epoch {epoch}/{settings.epochs}: train loss {train_loss:.5f}, "
                                              f"validation loss {shown}{' (best)' if is_best else ''}")

    # 8. export the best epoch's adapter and the summary
    best_epoch = state.best_epoch if state.best_epoch is not None else state.epoch
    adapter = export_adapter(checkpoint_folder(out, best_epoch), out, settings.rank)
    summary = write_summary(out, settings, search, split, state, best_epoch, lpips_status, adapter, device)
    report(state.epoch, state.step, state.best_validation, f"best epoch {best_epoch}; adapter {adapter}")
    return LoraTrainingResult(adapter, summary, list(state.history), best_epoch, lpips_status)


def train_epoch(objective: Objective, data: EncodedPairs, optimizer, scaler, parameters, settings, epoch: int,
                state: TrainerState, timesteps_total: int, report: Callable) -> float:
    """One pass over the training pairs; returns the mean per-sample loss and advances state.step."""
    objective.unet.train()
    generator = epoch_generator(settings.seed, epoch)
    order = torch.randperm(len(data), generator=generator)
    batches = [order[i:i + settings.batch_size] for i in range(0, len(data), settings.batch_size)]
    device = data.target_latents.device
    losses, pending = [], []
    optimizer.zero_grad(set_to_none=True)
    for number, indices in enumerate(batches, start=1):
        batch = data.batch(indices.to(device))
        noise, timesteps = draw_noise(generator, batch.target_latents.shape, timesteps_total, device)
        terms = objective(batch, noise, timesteps)
        scaler.scale(terms.total.mean() / settings.gradient_accumulation).backward()
        pending.append(terms.total.detach())
        if number % settings.gradient_accumulation == 0 or number == len(batches):
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(parameters, MAX_GRAD_NORM)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            step_losses = torch.cat(pending)
            losses.append(step_losses)
            pending = []
            report(epoch, state.step, step_losses.mean().item(), "")
    mean = torch.cat(losses).mean().item()
    if not math.isfinite(mean):
        raise PromptFaceError(f"training diverged in epoch {epoch} (loss {mean}); lower the learning rate "
                              f"({settings.learning_rate}) or use mixed_precision 'no'")
    return mean
