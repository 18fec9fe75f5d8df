"""The `diffedit` editor (GPU): DiffEdit (Couairon et al. 2022) over Stable Diffusion's non-deprecated parts.

Per subject the neutral photo is encoded and DDIM-inverted once (cached); per prompt a DiffEdit mask is computed and the
inverted latents are denoised with the target prompt, keeping the latents outside the mask on the inverted trajectory.
Several prompts run as one batch. `diffusers.StableDiffusionDiffEditPipeline` is deprecated and is used only as the
reference in tests (tests/backend/test_diffedit.py). What it can be set to is backend/editors/diffedit_settings.py.
"""
import hashlib
import warnings
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from addon.core.errors import PromptFaceError
from backend.subject.calibration import Subject
from backend.editors.diffedit_settings import DiffEditSettings, check_settings, missing_model_parts
from backend.editors.diffusion_prompt import diffusion_text
from backend.editors.editing import EditedPhoto, Editor, EditRequest

NAME = "diffedit"
VERSION = "1"


@dataclass(frozen=True)
class DiffEditResult:
    prompt: str         # the target prompt as sent to the text encoder
    image: np.ndarray   # (H,W,3) uint8, the edited photo at the input's size
    mask: np.ndarray    # (h,w) uint8 in {0,1}, the DiffEdit mask at latent resolution


@dataclass(frozen=True)
class Inversion:
    """What one subject's inversion leaves behind; depends only on the photo, source prompt and schedule."""
    image_latents: torch.Tensor     # (1,C,h,w) scaled VAE latents of the photo
    inverted: torch.Tensor          # (K,1,C,h,w) inverted latents, most noisy first (the order denoising uses them)


@dataclass
class InversionCache:
    size: int
    entries: OrderedDict = field(default_factory=OrderedDict)

    def get(self, key: tuple) -> Inversion | None:
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def put(self, key: tuple, value: Inversion) -> None:
        self.entries[key] = value
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


LORA_ADAPTER_NAME = "promptface_expressions"
LORA_FILE_NAME = "pytorch_lora_weights.safetensors"


def lora_file(path: str | Path) -> Path:
    """The adapter file a `lora` setting names (a file, or a folder holding pytorch_lora_weights.safetensors)."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / LORA_FILE_NAME
    if not path.is_file():
        raise PromptFaceError(f"LoRA adapter {path} does not exist; set DiffEditSettings.lora (the diffedit editor's "
                              "lora setting) to a .safetensors file written by `promptface-backend train-lora`, "
                              "or leave it empty to run the base model")
    return path


def load_lora(unet, path: str | Path, weight: float) -> None:
    """Attach a diffusers-format LoRA adapter (keys prefixed `unet.`) to the UNet at the given weight."""
    file = lora_file(path)
    try:
        unet.load_lora_adapter(str(file), prefix="unet", adapter_name=LORA_ADAPTER_NAME)
    except (ValueError, KeyError, RuntimeError, OSError) as error:
        raise PromptFaceError(f"LoRA adapter {file} does not fit this model's UNet: {str(error).splitlines()[0][:200]}"
                              ) from error
    if LORA_ADAPTER_NAME not in (unet.peft_config if hasattr(unet, "peft_config") else {}):
        raise PromptFaceError(f"LoRA adapter {file} holds no UNet weights (keys must start with 'unet.')")
    unet.set_adapters([LORA_ADAPTER_NAME], weights=[weight])


class DiffEditEditor(Editor):
    """DiffEdit over a UNet, VAE, CLIP text encoder and tokenizer, and a DDIM scheduler config."""
    name = NAME
    version = VERSION

    def __init__(self, unet, vae, text_encoder, tokenizer, scheduler_config, settings: DiffEditSettings):
        from diffusers import DDIMInverseScheduler, DDIMScheduler

        check_settings(settings)
        self.options = settings
        self.device = settings.resolved_device()
        self.dtype = settings.resolved_dtype()
        self.unet, self.vae, self.text_encoder = (self._placed(part) for part in (unet, vae, text_encoder))
        self.tokenizer = tokenizer
        self.scheduler = DDIMScheduler.from_config(scheduler_config)
        self.inverse_scheduler = DDIMInverseScheduler.from_config(scheduler_config)
        self.cache = InversionCache(settings.cache_size)
        if settings.lora:
            load_lora(self.unet, settings.lora, settings.lora_weight)
        if settings.attention_slicing:
            self.unet.set_attention_slice("auto")
        if settings.vae_tiling:
            self.vae.enable_tiling()

    def _placed(self, module: torch.nn.Module) -> torch.nn.Module:
        """The module on the editor's device and dtype, in eval mode (casts only when the dtype differs)."""
        if module.dtype != self.dtype:
            module = module.to(dtype=self.dtype)
        return module.to(self.device).eval()

    @classmethod
    def from_pretrained(cls, settings: DiffEditSettings) -> "DiffEditEditor":
        """Load the parts from a local folder, or from the local Hub cache for a Hub id; never downloads."""
        from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        check_settings(settings)
        folder = Path(settings.model).expanduser()
        local = folder.exists() or settings.model.startswith((".", "/", "~")) or settings.model.count("/") != 1
        if local:
            missing = missing_model_parts(folder)
            if missing:
                raise PromptFaceError(
                    f"DiffEdit model folder {folder} is missing: {'; '.join(missing)}. Point --diffedit-model "
                    "(DiffEditSettings.model) at a diffusers-layout Stable Diffusion folder.")
            source, options = str(folder), {}
        else:
            source, options = settings.model, {"local_files_only": True}
        dtype = settings.resolved_dtype()
        loaders = (("unet", lambda: UNet2DConditionModel.from_pretrained(source, subfolder="unet", torch_dtype=dtype,
                                                                          **options)),
                   ("vae", lambda: AutoencoderKL.from_pretrained(source, subfolder="vae", torch_dtype=dtype,
                                                                 **options)),
                   ("text_encoder", lambda: CLIPTextModel.from_pretrained(source, subfolder="text_encoder",
                                                                         torch_dtype=dtype, **options)),
                   ("tokenizer", lambda: CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", **options)),
                   ("scheduler", lambda: DDIMScheduler.load_config(source, subfolder="scheduler", **options)))
        parts, missing = {}, []
        for name, load in loaders:
            try:
                with warnings.catch_warnings():  # huggingface_hub warns about an argument diffusers still passes
                    warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks", category=UserWarning)
                    parts[name] = load()
            except (OSError, ValueError) as error:
                missing.append(f"{name} ({type(error).__name__}: {str(error).splitlines()[0][:160]})")
        if missing:
            raise PromptFaceError(
                f"DiffEdit model {settings.model!r} could not be loaded without downloading; missing: "
                f"{'; '.join(missing)}. Download it once into the Hub cache or a folder and point --diffedit-model "
                "(DiffEditSettings.model) at it.")
        return cls(parts["unet"], parts["vae"], parts["text_encoder"], parts["tokenizer"], parts["scheduler"], settings)

    def settings(self) -> dict:
        """The settings as recorded in an expression set's engine block (device and dtype as resolved)."""
        return {**asdict(self.options), "device": str(self.device), "dtype": str(self.dtype).removeprefix("torch.")}

    @property
    def batch_size(self) -> int:
        return self.options.batch_size

    # --- steps -----------------------------------------------------------------------------------------------------

    def target_prompt(self, text: str) -> str:
        return self.options.prompt_template.format(prompt=text)

    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> torch.Tensor:
        """(N,L,D) text-encoder hidden states for N prompts, padded to the tokenizer's maximum length."""
        tokens = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                                truncation=True, return_tensors="pt")
        return self.text_encoder(tokens.input_ids.to(self.device))[0].to(self.dtype)

    @torch.no_grad()
    def encode_image(self, image: np.ndarray) -> torch.Tensor:
        """(1,C,h,w) scaled latents (the mean of the VAE posterior) of an (H,W,3) uint8 image."""
        size = self.options.resolution
        if image.shape[:2] != (size, size):
            interpolation = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_CUBIC
            image = cv2.resize(image, (size, size), interpolation=interpolation)
        pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(self.device, self.dtype)
        pixels = pixels / 127.5 - 1.0
        return self.vae.encode(pixels).latent_dist.mean * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, size: tuple[int, int]) -> list[np.ndarray]:
        """(N,H,W,3) uint8 images from (N,C,h,w) scaled latents, resized to size (H,W)."""
        pixels = self.vae.decode(latents / self.vae.config.scaling_factor).sample
        pixels = ((pixels.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
        images = []
        for one in pixels.permute(0, 2, 3, 1).cpu().numpy():
            if one.shape[:2] != size:
                interpolation = cv2.INTER_AREA if one.shape[0] > size[0] else cv2.INTER_CUBIC
                one = cv2.resize(one, (size[1], size[0]), interpolation=interpolation)
            images.append(one)
        return images

    def guided(self, latents: torch.Tensor, t, embeds: torch.Tensor) -> torch.Tensor:
        """Classifier-free-guided noise prediction; embeds holds (unconditional, conditional) halves of size N each."""
        scale = self.options.guidance
        if scale <= 1.0:
            return self.unet(latents, t, encoder_hidden_states=embeds[latents.shape[0]:]).sample
        both = self.unet(torch.cat([latents, latents]), t, encoder_hidden_states=embeds).sample
        uncond, cond = both.chunk(2)
        return uncond + scale * (cond - uncond)

    def schedule_length(self, strength: float) -> int:
        return min(int(self.options.steps * strength), self.options.steps)

    @torch.no_grad()
    def invert(self, image_latents: torch.Tensor, source_embeds: torch.Tensor) -> torch.Tensor:
        """DDIM inversion up to inpaint_strength: (K,1,C,h,w) latents after each inverse step, most noisy first.

        source_embeds: (2,L,D) unconditional and source-prompt embeddings.
        """
        self.inverse_scheduler.set_timesteps(self.options.steps, device=self.device)
        timesteps = self.inverse_scheduler.timesteps[:self.schedule_length(self.options.inpaint_strength)]
        latents, kept = image_latents, []
        for t in timesteps:
            noise = self.guided(self.inverse_scheduler.scale_model_input(latents, t), t, source_embeds)
            latents = self.inverse_scheduler.step(noise, t, latents).prev_sample
            kept.append(latents)
        return torch.stack(kept[::-1])

    @torch.no_grad()
    def masks(self, image_latents: torch.Tensor, source_embeds: torch.Tensor,
              target_embeds: torch.Tensor) -> torch.Tensor:
        """(P,1,h,w) DiffEdit masks in {0,1}, one per target prompt.

        source_embeds: (2,L,D) unconditional + source; target_embeds: (P,2,L,D) unconditional + target per prompt.
        The noise draws come from one generator seeded with settings.seed, the same for every prompt.
        """
        s = self.options
        maps, prompts = s.maps_per_mask, target_embeds.shape[0]
        self.scheduler.set_timesteps(s.steps, device=self.device)
        t = self.scheduler.timesteps[s.steps - self.schedule_length(s.mask_encode_strength)]
        generator = torch.Generator(device=self.device).manual_seed(s.seed)
        noise = torch.randn((maps, *image_latents.shape[1:]), generator=generator, device=self.device,
                            dtype=self.dtype)
        noisy = self.scheduler.scale_model_input(self.scheduler.add_noise(image_latents.expand_as(noise), noise, t), t)
        # Batch: [source uncond, source, then per prompt uncond, target], each block `maps` draws.
        sides = torch.cat([source_embeds[None], target_embeds])                   # (1+P,2,L,D)
        embeds = sides.repeat_interleave(maps, dim=1).flatten(0, 1)                # ((1+P)*2*maps,L,D)
        eps = self.unet(noisy.repeat(2 * (1 + prompts), 1, 1, 1), t, encoder_hidden_states=embeds).sample
        eps = eps.view(1 + prompts, 2, maps, *eps.shape[1:])
        uncond, cond = eps[:, 0], eps[:, 1]
        guided = uncond + s.guidance * (cond - uncond) if s.guidance > 1.0 else cond
        difference = (guided[1:] - guided[:1]).abs().mean(dim=(1, 2))             # (P,h,w)
        clamp = difference.mean(dim=(1, 2), keepdim=True) * s.mask_thresholding_ratio
        normalised = torch.minimum(difference, clamp) / clamp
        return (normalised > 0.5).to(self.dtype)[:, None]

    @torch.no_grad()
    def denoise(self, inverted: torch.Tensor, masks: torch.Tensor, target_embeds: torch.Tensor) -> torch.Tensor:
        """(P,C,h,w) latents denoised from the inverted ones with each target prompt inside its mask.

        inverted: (K,1,C,h,w) most noisy first; masks: (P,1,h,w); target_embeds: (P,2,L,D).
        Step i keeps latents·mask + inverted[i]·(1−mask), as the reference pipeline does.
        """
        s = self.options
        prompts = target_embeds.shape[0]
        self.scheduler.set_timesteps(s.steps, device=self.device)
        timesteps = self.scheduler.timesteps[s.steps - self.schedule_length(s.inpaint_strength):]
        embeds = target_embeds.transpose(0, 1).flatten(0, 1)                      # (2P,L,D): uncond..., target...
        latents = inverted[0].expand(prompts, -1, -1, -1).clone()
        for i, t in enumerate(timesteps):
            noise = self.guided(self.scheduler.scale_model_input(latents, t), t, embeds)
            latents = self.scheduler.step(noise, t, latents).prev_sample
            latents = latents * masks + inverted[i] * (1 - masks)
        return latents

    def inversion_for(self, image: np.ndarray, source_embeds: torch.Tensor) -> Inversion:
        """The subject's inversion, from the cache when the same photo and settings were inverted before."""
        s = self.options
        digest = hashlib.sha256(np.ascontiguousarray(image).tobytes() + repr(image.shape).encode()).hexdigest()
        key = (digest, s.source_prompt, s.steps, s.inpaint_strength, s.guidance, s.resolution)
        found = self.cache.get(key)
        if found is None:
            image_latents = self.encode_image(image)
            found = Inversion(image_latents, self.invert(image_latents, source_embeds))
            self.cache.put(key, found)
        return found

    # --- the editor ------------------------------------------------------------------------------------------------

    def edit(self, image: np.ndarray, expressions: list[str]) -> list[DiffEditResult]:
        """Edit an (H,W,3) uint8 neutral photo into each expression text; the prompts run as one batch."""
        # 1. check inputs
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise PromptFaceError(f"the DiffEdit editor needs an (H,W,3) uint8 image, got {image.shape} {image.dtype}")
        if not expressions:
            raise PromptFaceError("the DiffEdit editor needs at least one expression prompt")
        # 2. encode prompts
        prompts = [self.target_prompt(text) for text in expressions]
        embeds = self.encode_prompts(["", self.options.source_prompt, *prompts])
        uncond = embeds[:1]
        source_embeds = embeds[:2]
        target_embeds = torch.stack([torch.cat([uncond, one[None]]) for one in embeds[2:]])
        # 3. encode and invert the photo (once per subject)
        inversion = self.inversion_for(image, source_embeds)
        # 4. masks, one per prompt
        masks = self.masks(inversion.image_latents, source_embeds, target_embeds)
        # 5. masked denoising
        latents = self.denoise(inversion.inverted, masks, target_embeds)
        # 6. decode
        images = self.decode(latents, image.shape[:2])
        mask_arrays = masks[:, 0].to(torch.uint8).cpu().numpy()
        return [DiffEditResult(prompt, edited, mask)
                for prompt, edited, mask in zip(prompts, images, mask_arrays, strict=True)]

    def edit_batch(self, subject: Subject, requests: list[EditRequest]) -> list[EditedPhoto]:
        """The pipeline's entry: the subject's crop edited into each request's expression, in one batch."""
        texts = [diffusion_text(request.intent.prompt) for request in requests]
        results = self.edit(subject.crop, texts)
        edited = []
        for result in results:
            mask = mask_at(result.mask, subject.crop.shape[:2])
            image = paste_back(subject.crop, result.image, mask) if self.options.paste_back else result.image
            edited.append(EditedPhoto(
                image=image, full_prompt=result.prompt, landmarks_px=None,
                diagnostics={"diffedit_mask": np.round(mask * 255).astype(np.uint8), "diffedit_output": result.image}))
        return edited


def mask_at(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H,W) float32 in [0,1]: the latent-resolution {0,1} mask grown by one latent pixel and feathered at size.

    Growing covers the VAE's reach across a latent pixel's border; feathering hides the seam of the paste.
    """
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    scaled = cv2.resize(grown.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    sigma = size[0] / mask.shape[0] / 2
    return np.clip(cv2.GaussianBlur(scaled, (0, 0), sigma), 0.0, 1.0)


def paste_back(photo: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H,W,3) uint8: edited inside the mask, the photo's own pixels outside (mask (H,W) in [0,1])."""
    weight = mask[..., None]
    return np.clip(np.rint(photo * (1.0 - weight) + edited * weight), 0, 255).astype(np.uint8)
