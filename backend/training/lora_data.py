"""The LoRA trainer's data as tensors: the expression pairs (backend/training/expression_pairs.py) encoded once into
VAE latents, loss weight maps and prompt states, and the batches drawn from them. The weight map is explained in
backend/training/lora_training.py's docstring."""
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from backend.subject.photo_io import load_photo
from backend.training.expression_pairs import ExpressionPair
from backend.training.lora_model import ModelParts
from backend.training.lora_settings import LoraTrainingSettings

CHANGE_CLAMP_RATIO = 3.0   # as DiffEdit's mask_thresholding_ratio


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
