"""Stable Diffusion parts with random weights, built offline (no Hub): a tiny model for tests and the real
SD 2.1-base architecture for benchmarks (speed does not depend on the weights' values). Facts §7.
"""
import json
from pathlib import Path

import torch


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


def write_byte_tokenizer(folder: Path) -> None:
    """A CLIP tokenizer with only byte tokens and no merges: every prompt tokenizes, nothing is downloaded."""
    from transformers import CLIPTokenizer

    files = folder.parent / (folder.name + "_files")
    files.mkdir(parents=True, exist_ok=True)
    chars = byte_characters()
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    (files / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (files / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer.from_pretrained(files, model_max_length=77).save_pretrained(folder)


def scheduler_config() -> dict:
    """Stable Diffusion 2.1-base's DDIM settings (epsilon prediction)."""
    return dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                set_alpha_to_one=False, steps_offset=1)


def build_tiny_model(folder: str | Path) -> Path:
    """Write a diffusers-layout tiny random Stable Diffusion (64² images work) into folder; returns folder."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = Path(folder)
    torch.manual_seed(0)
    UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4,
                         out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                         up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                         attention_head_dim=(2, 4), use_linear_projection=True).save_pretrained(folder / "unet")
    DDIMScheduler(**scheduler_config()).save_pretrained(folder / "scheduler")
    torch.manual_seed(0)
    AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                  down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                  latent_channels=4, sample_size=128).save_pretrained(folder / "vae")
    torch.manual_seed(0)
    CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37,
                                 layer_norm_eps=1e-5, num_attention_heads=4, num_hidden_layers=5, pad_token_id=1,
                                 vocab_size=1000, hidden_act="gelu", projection_dim=512)
                  ).save_pretrained(folder / "text_encoder")
    write_byte_tokenizer(folder / "tokenizer")
    return folder


def build_sd21_base_parts(tokenizer_folder: Path) -> dict:
    """The SD 2.1-base architecture (UNet 865 M, VAE 84 M, OpenCLIP-H text encoder 340 M) with random weights.

    Returns the parts DiffEditEditor takes: unet, vae, text_encoder, tokenizer, scheduler_config.
    """
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, sample_size=768,
                        block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16,
        max_position_embeddings=77, hidden_act="gelu", projection_dim=512, bos_token_id=0, eos_token_id=2,
        pad_token_id=1))
    if not (tokenizer_folder / "tokenizer_config.json").is_file():
        write_byte_tokenizer(tokenizer_folder)
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_folder)
    return dict(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                scheduler_config=scheduler_config())
