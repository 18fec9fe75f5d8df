"""deca_model.tar: the manifest of what it must hold, and strict loading.

The manifest is generated from the documented architecture (torchvision's ResNet-50 naming, DECA's heads and detail
generator), independently of backend.deca.networks, so comparing the two is a real check. Loading is strict: a missing,
extra or mis-shaped key is an error that names it (the reference loader skipped such keys silently).
"""
import pickle
from pathlib import Path

import torch
from torch import nn

from addon.core.errors import PromptFaceError

NETWORK_NAMES = ("E_flame", "E_detail", "D_detail")
# The backbone sits under this attribute of the encoders, the MLP head under `layers` (as DECA's ResnetEncoder names
# them: checked by reading its encoders.py, no code taken).
BACKBONE_PREFIX = "encoder."
ENCODER_OUTPUTS = {"E_flame": 236, "E_detail": 128}
_RESNET50_STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))  # bottleneck width, blocks
_EXPANSION = 4
_DETAIL_LATENT = 181
_DETAIL_CONVS = {2: (128, 128), 6: (128, 64), 10: (64, 64), 14: (64, 32), 18: (32, 16), 21: (16, 1)}
_DETAIL_BATCHNORMS = {0: 128, 3: 128, 7: 64, 11: 64, 15: 32, 19: 16}
# How many offending keys an error lists before summarising the rest.
_LISTED_KEYS = 12

Manifest = dict[str, tuple[int, ...]]


class DecaCheckpointError(PromptFaceError):
    """deca_model.tar cannot be read, or does not hold exactly the released networks."""


# ---------------------------------------------------------------------------------------------------------------
# Manifest


def _batchnorm(prefix: str, channels: int) -> Manifest:
    return {f"{prefix}.weight": (channels,), f"{prefix}.bias": (channels,), f"{prefix}.running_mean": (channels,),
            f"{prefix}.running_var": (channels,), f"{prefix}.num_batches_tracked": ()}


def resnet50_manifest(prefix: str = "") -> Manifest:
    """Keys and shapes of torchvision's ResNet-50 without `fc`, in state-dict order."""
    keys: Manifest = {f"{prefix}conv1.weight": (64, 3, 7, 7), **_batchnorm(f"{prefix}bn1", 64)}
    in_channels = 64
    for stage, (width, blocks) in enumerate(_RESNET50_STAGES, start=1):
        out_channels = width * _EXPANSION
        for block in range(blocks):
            name = f"{prefix}layer{stage}.{block}"
            keys[f"{name}.conv1.weight"] = (width, in_channels, 1, 1)
            keys.update(_batchnorm(f"{name}.bn1", width))
            keys[f"{name}.conv2.weight"] = (width, width, 3, 3)
            keys.update(_batchnorm(f"{name}.bn2", width))
            keys[f"{name}.conv3.weight"] = (out_channels, width, 1, 1)
            keys.update(_batchnorm(f"{name}.bn3", out_channels))
            if block == 0:  # every stage's first block projects the shortcut (channels or stride change)
                keys[f"{name}.downsample.0.weight"] = (out_channels, in_channels, 1, 1)
                keys.update(_batchnorm(f"{name}.downsample.1", out_channels))
            in_channels = out_channels
    return keys


def encoder_manifest(outputs: int) -> Manifest:
    """E_flame (outputs 236) or E_detail (128): backbone under BACKBONE_PREFIX, head Linear(2048,1024), Linear(1024,
    outputs)."""
    return {**resnet50_manifest(BACKBONE_PREFIX), "layers.0.weight": (1024, 2048), "layers.0.bias": (1024,),
            "layers.2.weight": (outputs, 1024), "layers.2.bias": (outputs,)}


def detail_generator_manifest() -> Manifest:
    """D_detail: l1.0 Linear(181, 128·8·8), then conv_blocks with convolutions and batch norms at fixed indices."""
    keys: Manifest = {"l1.0.weight": (128 * 8 * 8, _DETAIL_LATENT), "l1.0.bias": (128 * 8 * 8,)}
    for index in sorted({*_DETAIL_CONVS, *_DETAIL_BATCHNORMS}):
        if index in _DETAIL_CONVS:
            in_channels, out_channels = _DETAIL_CONVS[index]
            keys[f"conv_blocks.{index}.weight"] = (out_channels, in_channels, 3, 3)
            keys[f"conv_blocks.{index}.bias"] = (out_channels,)
        else:
            keys.update(_batchnorm(f"conv_blocks.{index}", _DETAIL_BATCHNORMS[index]))
    return keys


def deca_manifest() -> dict[str, Manifest]:
    """Every key and shape of the released deca_model.tar, per network."""
    return {"E_flame": encoder_manifest(ENCODER_OUTPUTS["E_flame"]),
            "E_detail": encoder_manifest(ENCODER_OUTPUTS["E_detail"]),
            "D_detail": detail_generator_manifest()}


# ---------------------------------------------------------------------------------------------------------------
# Loading


def read_deca_checkpoint(path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """The three state dicts of deca_model.tar, checked against deca_manifest(). Trainer entries (opt,
    global_step, …) are ignored. Reads tensors only (weights_only), on the CPU."""
    path = Path(path)
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise DecaCheckpointError(f"{path} does not exist; put the trained DECA model there") from error
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
        raise DecaCheckpointError(f"{path} is not a readable DECA checkpoint ({error})") from error
    if not isinstance(stored, dict):
        raise DecaCheckpointError(f"{path} holds a {type(stored).__name__}, not the dict of a DECA checkpoint")
    absent = [name for name in NETWORK_NAMES if name not in stored]
    if absent:
        raise DecaCheckpointError(f"{path} lacks the network(s) {', '.join(absent)}; it holds {sorted(stored)}. "
                                  "Use deca_model.tar of the DECA release")
    manifest = deca_manifest()
    state_dicts = {name: stored[name] for name in NETWORK_NAMES}
    for name, state in state_dicts.items():
        check_state_dict(state, manifest[name], f"{path} [{name}]")
    return state_dicts


def check_state_dict(state: dict, expected: Manifest, where: str) -> None:
    """Raise DecaCheckpointError naming every missing, extra or mis-shaped key of state against expected."""
    if not isinstance(state, dict):
        raise DecaCheckpointError(f"{where} is a {type(state).__name__}, not a state dict")
    missing = [key for key in expected if key not in state]
    extra = [key for key in state if key not in expected]
    misshaped = [f"{key} {tuple(state[key].shape)} (expected {expected[key]})" for key in expected
                 if key in state and (not isinstance(state[key], torch.Tensor)
                                      or tuple(state[key].shape) != expected[key])]
    problems = [f"missing {_listed(missing)}" if missing else "", f"unexpected {_listed(extra)}" if extra else "",
                f"mis-shaped {_listed(misshaped)}" if misshaped else ""]
    problems = [problem for problem in problems if problem]
    if problems:
        raise DecaCheckpointError(f"{where} does not match the released DECA networks: " + "; ".join(problems))


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED_KEYS])
    more = len(keys) - _LISTED_KEYS
    return f"{len(keys)} key(s): {shown}" + (f" and {more} more" if more > 0 else "")


def load_deca_networks(networks: dict[str, nn.Module], path: str | Path) -> None:
    """Load deca_model.tar into the networks of build_deca_networks(), strictly."""
    state_dicts = read_deca_checkpoint(path)
    for name, network in networks.items():
        network.load_state_dict(state_dicts[name], strict=True)
