"""`train-lora` on a tiny random Stable Diffusion built offline and a synthetic KDEF-layout folder."""
import json
import sys
import types
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from addon.core.errors import PromptFaceError
from backend.cli import main
from backend.editors.diffedit import DiffEditEditor
from backend.editors.diffedit_settings import DiffEditSettings
from backend.bench.random_diffusion import build_tiny_model
from backend.training.expression_pairs import find_pairs, split_by_identity
from backend.training.lora_checkpoints import CHECKPOINT_ADAPTER, CHECKPOINT_STATE
from backend.training.lora_data import change_weights, encode_pairs
from backend.training.lora_model import add_lora, load_lpips, load_model_parts
from backend.training.lora_settings import LoraTrainingSettings
from backend.training.lora_training import Objective, draw_noise, train_lora

SIZE = 64
# Sessions A and B of KDEF are the same people: AF01 and BF01 are one identity, F01.
SESSIONS = ("AF01", "AM02", "AF03", "AM04", "BF01")
EMOTIONS = ("NE", "HA", "SU")


def face_photo(person: int, code: str) -> np.ndarray:
    """A 112×96 (portrait, not square) 'face': background and skin per person, mouth and brows per expression."""
    rng = np.random.default_rng(person)
    image = np.empty((112, 96, 3), np.uint8)
    image[:] = rng.integers(40, 200, 3)
    cv2.ellipse(image, (48, 56), (30, 40), 0, 0, 360, [int(v) for v in rng.integers(120, 255, 3)], -1)
    mouth = {"NE": (12, 2), "HA": (20, 8), "SU": (8, 14)}[code]
    cv2.ellipse(image, (48, 80), mouth, 0, 0, 360, (40, 0, 0), -1)
    brow_y = 36 if code == "SU" else 42
    for x in (36, 60):
        cv2.line(image, (x - 8, brow_y), (x + 8, brow_y), (20, 20, 20), 3)
    return image


def write_kdef_folder(folder):
    """Per-person folders with NE, HA, SU at the straight angle, plus a profile photo, an unpaired one and a note."""
    for person, session in enumerate(SESSIONS):
        (folder / session).mkdir(parents=True)
        for code in EMOTIONS:
            cv2.imwrite(str(folder / session / f"{session}{code}S.JPG"), face_photo(person % 4, code))
    cv2.imwrite(str(folder / "AF01" / "AF01NEHL.JPG"), face_photo(0, "NE"))
    cv2.imwrite(str(folder / "AM05HAS.jpg"), face_photo(5, "HA"))
    (folder / "notes.txt").write_text("not a photo")
    return folder


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny_sd"))


@pytest.fixture(scope="module")
def kdef_folder(tmp_path_factory):
    return write_kdef_folder(tmp_path_factory.mktemp("kdef"))


@pytest.fixture(scope="module")
def lpips_file(tmp_path_factory):
    """A file named as LPIPS weights, for the run where the lpips package cannot be imported."""
    path = tmp_path_factory.mktemp("lpips") / "lpips_alex_full.pth"
    path.write_bytes(b"not read: the package is missing")
    return path


def tiny_settings(model_folder, kdef_folder, out, **changes) -> LoraTrainingSettings:
    values = dict(model=str(model_folder), data=str(kdef_folder), out=str(out), rank=4, epochs=2,
                  learning_rate=1e-2, batch_size=4, resolution=SIZE, validation_fraction=0.25, seed=0, device="cpu")
    values.update(changes)
    return LoraTrainingSettings(**values)


@pytest.fixture(scope="module")
def trained(model_folder, kdef_folder, lpips_file, tmp_path_factory):
    """Two epochs; LPIPS is configured but the package made unimportable, so it must be reported off."""
    out = tmp_path_factory.mktemp("trained")
    messages = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "lpips", None)
        result = train_lora(tiny_settings(model_folder, kdef_folder, out, lpips_weights=str(lpips_file)),
                            progress=lambda epoch, step, loss, message: messages.append((epoch, step, loss, message)))
    return out, result, messages


# --- pairs and split -------------------------------------------------------------------------------------------


def test_kdef_pairs_report_what_they_skip(kdef_folder):
    search = find_pairs(kdef_folder)
    assert search.layout == "kdef"
    assert len(search.pairs) == len(SESSIONS) * 2
    assert {pair.prompt for pair in search.pairs} == {"happy", "surprised"}
    assert {pair.identity for pair in search.pairs} == {"F01", "M02", "F03", "M04"}
    assert all(pair.angle == "S" and pair.neutral.name[4:6] == "NE" for pair in search.pairs)
    assert all(pair.neutral.name[:4] == pair.expression.name[:4] for pair in search.pairs)
    assert search.unpaired == ["AM05HAS.jpg"]
    assert search.unrecognised == ["notes.txt"]
    assert search.other_angles == 1
    notes = " ".join(search.notes())
    assert "AM05HAS.jpg" in notes and "notes.txt" in notes and "other camera angles" in notes

    both_angles = find_pairs(kdef_folder, angles=("S", "hl"))
    assert len(both_angles.pairs) == len(search.pairs)
    assert "AF01/AF01NEHL.JPG" in both_angles.unpaired  # a neutral with no expression at that angle


def test_split_is_by_identity_and_deterministic(kdef_folder):
    pairs = find_pairs(kdef_folder).pairs
    seen_validation = set()
    for seed in range(6):
        split = split_by_identity(pairs, 0.25, seed)
        assert split == split_by_identity(pairs, 0.25, seed)
        train_ids = {pair.identity for pair in split.train}
        validation_ids = {pair.identity for pair in split.validation}
        assert not train_ids & validation_ids
        assert train_ids == set(split.train_identities) and validation_ids == set(split.validation_identities)
        assert len(validation_ids) == 1 and len(train_ids) == 3
        assert len(split.train) + len(split.validation) == len(pairs)
        seen_validation |= validation_ids
    assert len(seen_validation) > 1  # the seed matters
    assert split_by_identity(pairs, 0.01, 0).validation  # a small fraction still holds one identity out
    assert split_by_identity(pairs, 0.0, 0).validation == []
    one_person = [pair for pair in pairs if pair.identity == "M02"]
    assert split_by_identity(one_person, 0.5, 0).validation == []


def test_folder_without_pairs_names_what_was_expected_and_seen(tmp_path):
    names = ["IMG_0001.jpg", "IMG_0002.jpg", "AF01XXS.JPG", "readme.md", "face.png", "extra1.jpg", "extra2.jpg"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    cv2.imwrite(str(tmp_path / "AF01HAS.JPG"), face_photo(0, "HA"))
    with pytest.raises(PromptFaceError) as error:
        find_pairs(tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message and "AF01NES.JPG" in message and "pairs.csv" in message
    listed = [name for name in sorted(names) if name in message]
    assert len(listed) == 5 and "and 2 more" in message
    assert "AF01HAS.JPG" in message and "without a partner" in message

    with pytest.raises(PromptFaceError, match="does not exist"):
        find_pairs(tmp_path / "nowhere")
    with pytest.raises(PromptFaceError, match="unknown KDEF angle"):
        find_pairs(tmp_path, angles=("UP",))


def test_csv_layout(tmp_path):
    for name in ("me_neutral.png", "me_smile.png", "you_neutral.png"):
        cv2.imwrite(str(tmp_path / name), face_photo(1, "NE"))
    (tmp_path / "pairs.csv").write_text(
        "neutral,expression,prompt,identity\n"
        "me_neutral.png,me_smile.png,broad smile,me\n"
        "you_neutral.png,you_smile.png,smile,you\n"
        "me_neutral.png,me_smile.png,,me\n")
    search = find_pairs(tmp_path)
    assert search.layout == "csv"
    assert [(p.neutral.name, p.expression.name, p.prompt, p.identity) for p in search.pairs] == [
        ("me_neutral.png", "me_smile.png", "broad smile", "me")]
    assert search.unpaired == ["row 3: you_smile.png not found"]
    assert search.unrecognised == ["row 4: empty prompt"]

    (tmp_path / "pairs.csv").write_text("before,after\nme_neutral.png,me_smile.png\n")
    with pytest.raises(PromptFaceError, match="lacks the column.*neutral, expression, prompt, identity"):
        find_pairs(tmp_path)


# --- objective ---------------------------------------------------------------------------------------------------


def test_change_weights_mark_where_the_pair_differs():
    neutral = torch.zeros(2, 4, 16, 16)
    target = neutral.clone()
    target[1, :, 4:8, 4:8] = 1.0
    weights = change_weights(neutral, target, masked_weight=3.0)
    assert weights.shape == (2, 1, 16, 16)
    assert torch.all(weights[0] == 1.0)
    assert torch.all(weights[1, 0, 5:7, 5:7] == 3.0)
    assert weights[1, 0, 4, 8] > 1.0 and weights[1, 0, 4, 8] < 3.0  # the edge is feathered
    assert torch.all(weights[1, 0, 12:, 12:] == 1.0)


def test_loss_goes_down_on_a_fixed_batch(model_folder, kdef_folder, tmp_path):
    settings = tiny_settings(model_folder, kdef_folder, tmp_path)
    device = torch.device("cpu")
    parts = load_model_parts(settings, device, torch.float32)
    data = encode_pairs(parts, find_pairs(kdef_folder).pairs[:2], settings, device)
    parameters = add_lora(parts.unet, rank=4, seed=0)
    optimizer = torch.optim.AdamW(parameters, lr=1e-2)
    objective = Objective(parts.unet, parts.noise_scheduler, device, torch.float32)
    batch = data.batch(torch.arange(2))
    # Fixed noise and timesteps make the objective deterministic, so any decrease is the adapter learning; measured
    # here the mean of the last 4 of 20 steps is about 6 % below the first 4.
    noise, timesteps = draw_noise(torch.Generator().manual_seed(0), batch.target_latents.shape, 1000, device)
    losses = []
    for _ in range(20):
        loss = objective(batch, noise, timesteps).total.mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert np.mean(losses[-4:]) < 0.97 * np.mean(losses[:4]), losses


# --- training runs -----------------------------------------------------------------------------------------------


def test_training_writes_adapter_checkpoints_and_summary(trained):
    out, result, messages = trained
    assert result.adapter == out / "pytorch_lora_weights.safetensors" and result.adapter.is_file()
    keys = list(load_file(result.adapter))
    assert keys and all(key.startswith("unet.") for key in keys)
    assert not any("base_layer" in key for key in keys)  # only the adapter, never the UNet
    assert [record.epoch for record in result.history] == [1, 2]
    assert all(record.validation_loss is not None and np.isfinite(record.train_loss) for record in result.history)
    assert [p.name for p in sorted((out / "checkpoints").iterdir())] == ["epoch-001", "epoch-002"]

    summary = json.loads(result.summary.read_text())
    assert summary["lpips"]["enabled"] is False
    assert summary["lpips"]["status"].startswith("LPIPS off: the lpips package is not importable")
    assert result.lpips == summary["lpips"]["status"]
    assert [entry["epoch"] for entry in summary["epochs"]] == [1, 2]
    best = min(result.history, key=lambda record: record.validation_loss)
    assert summary["best_epoch"] == result.best_epoch == best.epoch
    data = summary["data"]
    assert not set(data["train_identities"]) & set(data["validation_identities"])
    assert any("AM05HAS.jpg" in note for note in data["notes"])

    texts = [message for _, _, _, message in messages]
    assert any(text.startswith("LPIPS off") for text in texts)
    assert any("validation loss" in text for text in texts)
    steps = [step for _, step, loss, message in messages if not message]
    assert steps == list(range(1, len(steps) + 1)) and steps[-1] == result.history[-1].step


def test_adapter_changes_diffedit_output_and_weight_zero_gives_the_base(trained, model_folder):
    _, result, _ = trained
    photo = cv2.resize(face_photo(1, "NE"), (SIZE, SIZE))

    def edited(**lora):
        settings = DiffEditSettings(model=str(model_folder), steps=4, resolution=SIZE, maps_per_mask=3,
                                    device="cpu", dtype="float32", **lora)
        return DiffEditEditor.from_pretrained(settings).edit(photo, ["happy"])[0].image

    base = edited()
    with_lora = edited(lora=str(result.adapter))
    assert np.abs(with_lora.astype(int) - base.astype(int)).max() > 0
    np.testing.assert_array_equal(edited(lora=str(result.adapter), lora_weight=0.0), base)


def test_resume_continues_where_the_checkpoint_ends(trained, model_folder, kdef_folder, lpips_file, tmp_path):
    reference_out, reference, _ = trained
    with pytest.MonkeyPatch.context() as patch:  # the same settings as the uninterrupted run
        patch.setitem(sys.modules, "lpips", None)
        settings = tiny_settings(model_folder, kdef_folder, tmp_path, lpips_weights=str(lpips_file))
        first = train_lora(replace(settings, epochs=1))
        with pytest.raises(PromptFaceError, match="already holds checkpoints"):
            train_lora(settings)
        resumed = train_lora(replace(settings, resume=True))
    assert [record.epoch for record in first.history] == [1]
    assert [record.epoch for record in resumed.history] == [1, 2]
    steps_per_epoch = first.history[0].step
    assert resumed.history[-1].step == 2 * steps_per_epoch == reference.history[-1].step

    state = torch.load(tmp_path / "checkpoints" / "epoch-002" / CHECKPOINT_STATE, weights_only=True)
    adam_steps = {float(entry["step"]) for entry in state["optimizer"]["state"].values()}
    assert adam_steps == {2.0 * steps_per_epoch}  # the optimizer's moments were carried over, not restarted

    ours = load_file(tmp_path / "checkpoints" / "epoch-002" / CHECKPOINT_ADAPTER)
    theirs = load_file(reference_out / "checkpoints" / "epoch-002" / CHECKPOINT_ADAPTER)
    for key in theirs:
        torch.testing.assert_close(ours[key], theirs[key], atol=1e-6, rtol=1e-5)
    assert resumed.history[1].validation_loss == pytest.approx(reference.history[1].validation_loss, rel=1e-5)

    with pytest.raises(PromptFaceError, match="rank"):
        train_lora(replace(settings, resume=True, rank=8))


def test_lpips_term_with_a_stand_in_network(model_folder, kdef_folder, tmp_path, monkeypatch):
    class StandIn(torch.nn.Module):
        """Has the lpips.LPIPS constructor and the state-dict keys the loader looks at; no real weights."""
        calls_with_gradient = 0

        def __init__(self, net="alex", pretrained=True, pnet_rand=False, verbose=True):
            super().__init__()
            assert not pretrained and pnet_rand  # nothing may be downloaded
            self.net = torch.nn.Module()
            self.net.slice1 = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 11, padding=5))
            self.lin0 = torch.nn.Conv2d(2, 1, 1, bias=False)

        def forward(self, first, second):
            assert not second.requires_grad
            StandIn.calls_with_gradient += first.requires_grad  # training calls; validation runs without
            return self.lin0((self.net.slice1(first) - self.net.slice1(second)) ** 2).mean(dim=(1, 2, 3),
                                                                                             keepdim=True)

    monkeypatch.setitem(sys.modules, "lpips", types.SimpleNamespace(LPIPS=StandIn))
    weights = tmp_path / "lpips_full.pth"
    torch.save(StandIn(pretrained=False, pnet_rand=True).state_dict(), weights)
    result = train_lora(tiny_settings(model_folder, kdef_folder, tmp_path / "out", epochs=1,
                                      lpips_weights=str(weights)))
    assert result.lpips.startswith("LPIPS on") and StandIn.calls_with_gradient > 0
    assert json.loads(result.summary.read_text())["lpips"]["enabled"] is True
    assert np.isfinite(result.history[0].train_loss)

    partial = tmp_path / "lpips_linear_only.pth"
    torch.save({"lin0.weight": torch.zeros(1, 2, 1, 1)}, partial)
    settings = tiny_settings(model_folder, kdef_folder, tmp_path / "unused", lpips_weights=str(partial))
    with pytest.raises(PromptFaceError, match="not a complete LPIPS"):
        load_lpips(settings, torch.device("cpu"))


# --- command line ------------------------------------------------------------------------------------------------


def test_cli_train_lora_writes_the_adapter(model_folder, kdef_folder, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["train-lora", "--model", str(model_folder), "--data", str(kdef_folder), "--out", str(out),
                 "--epochs", "1", "--rank", "4", "--resolution", str(SIZE), "--batch-size", "4",
                 "--validation-fraction", "0.25", "--device", "cpu", "--log-every", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (out / "pytorch_lora_weights.safetensors").is_file() and (out / "training_summary.json").is_file()
    assert "LPIPS off" in captured.err and "validation loss" in captured.err and "loss" in captured.err
    assert str(out / "pytorch_lora_weights.safetensors") in captured.out


def test_fp16_on_cpu_is_refused(model_folder, kdef_folder, tmp_path, capsys):
    code = main(["train-lora", "--model", str(model_folder), "--data", str(kdef_folder), "--out", str(tmp_path),
                 "--mixed-precision", "fp16", "--device", "cpu"])
    assert code == 2
    assert "fp16 needs a CUDA GPU" in capsys.readouterr().err
    with pytest.raises(PromptFaceError, match="fp16 needs a CUDA GPU"):
        train_lora(tiny_settings(model_folder, kdef_folder, tmp_path, mixed_precision="fp16"))
    assert not (tmp_path / "checkpoints").exists()
