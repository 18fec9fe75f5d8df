"""The frozen parts the LoRA trainer works with: the Stable Diffusion model loaded from a local folder, the optional
LPIPS network, and the LoRA adapter attached to the UNet (the only weights that train)."""
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from addon.core.errors import PromptFaceError
from backend.training.lora_settings import LoraTrainingSettings, model_folder

LORA_TARGET_MODULES = ["to_k", "to_q", "to_v", "to_out.0"]


@dataclass
class ModelParts:
    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    noise_scheduler: object     # diffusers DDPMScheduler built from the model's scheduler config


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
