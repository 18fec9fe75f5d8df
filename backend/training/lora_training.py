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
uninterrupted one would have done.

The trainer's other modules: lora_settings.py (the settings and their checks), lora_model.py (loading the frozen model
and LPIPS, attaching the adapter), lora_data.py (the pairs encoded as tensors) and lora_checkpoints.py (checkpoints,
resuming, exporting the adapter); this one holds the objective, the training loop and the summary.
"""
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from addon.core.atomic_files import write_bytes_atomically
from addon.core.errors import PromptFaceError
from backend.training.expression_pairs import DataSplit, PairSearch, find_pairs, split_by_identity
from backend.training.lora_checkpoints import (
    CHECKPOINTS, EpochRecord, TrainerState, check_resumable, checkpoint_folder, export_adapter, prune_checkpoints,
    read_trainer_state, restore_checkpoint, save_checkpoint, saved_epochs,
)
from backend.training.lora_data import Batch, EncodedPairs, encode_pairs
from backend.training.lora_model import add_lora, load_lpips, load_model_parts
from backend.training.lora_settings import MIXED_PRECISIONS, LoraTrainingSettings, check_settings, settings_record

logger = logging.getLogger(__name__)

MAX_GRAD_NORM = 1.0
SUMMARY_NAME = "training_summary.json"

Progress = Callable[[int, int, float | None, str], None]
"""(epoch, optimizer step, loss or None, message) — called after each optimizer step and each epoch."""


@dataclass(frozen=True)
class LoraTrainingResult:
    adapter: Path
    """out/pytorch_lora_weights.safetensors: the best epoch's adapter, keys `unet.…` (DiffEditSettings.lora)."""
    summary: Path
    history: list[EpochRecord]
    best_epoch: int
    lpips: str
    """"LPIPS on: …" or "LPIPS off: <reason>"."""


@dataclass(frozen=True)
class LossTerms:
    total: torch.Tensor   # (B,) per-sample loss
    mse: torch.Tensor     # (B,) weighted noise-prediction MSE
    lpips: torch.Tensor | None


# --- the objective ------------------------------------------------------------------------------------------------


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
