"""deca_model.tar: strict loading into the networks of backend.deca.networks.

What the file must hold is read off those networks (their state-dict keys and shapes), so the architecture is
described once; the tests compare it with an independent, hand-written list of the released file's keys and shapes.
Loading is strict: a missing, extra or mis-shaped key is an error that names it (the reference loader skipped such
keys silently).
"""
import pickle
from pathlib import Path

import torch
from torch import nn

from addon.core.errors import PromptFaceError
from backend.deca.networks import build_deca_networks

# How many offending keys an error lists before summarising the rest.
_LISTED_KEYS = 12

Shapes = dict[str, tuple[int, ...]]


class DecaCheckpointError(PromptFaceError):
    """deca_model.tar cannot be read, or does not hold exactly the released networks."""


def expected_shapes() -> dict[str, Shapes]:
    """Every key deca_model.tar must hold and its shape, per network: the state dicts of build_deca_networks(), in
    their order."""
    with torch.device("meta"):  # shapes only: no memory, no random initialisation
        networks = build_deca_networks()
    return {name: {key: tuple(value.shape) for key, value in network.state_dict().items()}
            for name, network in networks.items()}


def read_deca_checkpoint(path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """The three state dicts of deca_model.tar, checked against expected_shapes(). Trainer entries (opt,
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
    expected = expected_shapes()
    absent = [name for name in expected if name not in stored]
    if absent:
        raise DecaCheckpointError(f"{path} lacks the network(s) {', '.join(absent)}; it holds {sorted(stored)}. "
                                  "Use deca_model.tar of the DECA release")
    state_dicts = {name: stored[name] for name in expected}
    for name, state in state_dicts.items():
        check_state_dict(state, expected[name], f"{path} [{name}]")
    return state_dicts


def check_state_dict(state: dict, expected: Shapes, where: str) -> None:
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
