"""The LoRA trainer's checkpoints: out/checkpoints/epoch-NNN/ with the adapter and the trainer state, resuming from
them, pruning them, and exporting the chosen epoch's adapter in diffusers' format for the editor.

Never save the UNet after `add_adapter`: a UNet carrying PEFT layers saves `base_layer`/`lora_A` keys that reload into
silently re-initialised weights; only the adapter is written.
"""
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from addon.core.atomic_files import move_folder_into_place, staged_file
from addon.core.errors import PromptFaceError
from backend.editors.diffedit import LORA_FILE_NAME
from backend.training.lora_model import LORA_TARGET_MODULES
from backend.training.lora_settings import LoraTrainingSettings, settings_record

CHECKPOINTS = "checkpoints"
CHECKPOINT_NAME = re.compile(r"^epoch-(\d{3,})$")
CHECKPOINT_ADAPTER = "adapter.safetensors"
CHECKPOINT_STATE = "trainer_state.pt"
# Settings a resumed run must share with the checkpoint: the adapter's shape, the latents and the data split.
RESUME_MUST_MATCH = ("model", "rank", "resolution", "seed", "validation_fraction", "angles", "masked_weight",
                     "prompt_template")


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
