"""DECA's networks, written here with the parameter names of the released checkpoint (deca_model.tar).

- `ResNet50Backbone`: torchvision's ResNet-50 layout and key names (conv1, bn1, layer1..4.i.conv1-3/bn1-3,
  downsample.0/.1), without `fc`, ending in AvgPool2d(7): the input must be 224x224. torchvision is not a dependency.
- `DecaEncoder`: the backbone as `encoder` and an MLP head `layers` (E_flame: 236 outputs, E_detail: 128).
- `DetailGenerator` (D_detail): jaw pose + expression + detail code → a 256² displacement map.
"""
from itertools import pairwise

import torch
from torch import nn

FLAME_CODE_SIZE = 236
DETAIL_CODE_SIZE = 128
FEATURE_SIZE = 2048
HIDDEN_SIZE = 1024
# (bottleneck width, blocks, stride of the first block) per stage: ResNet-50.
RESNET50_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))
BOTTLENECK_EXPANSION = 4
INPUT_SIZE = 224

DETAIL_LATENT_SIZE = 3 + 50 + DETAIL_CODE_SIZE  # jaw pose, expression, detail code
DETAIL_START_SIZE = 8
DETAIL_CHANNELS = (128, 128, 64, 64, 32, 16)
DETAIL_OUTPUT_SCALE = 0.01
# The released D_detail passes 0.8 positionally to BatchNorm2d, which makes it eps (not momentum); the trained
# weights expect it.
DETAIL_BATCHNORM_EPS = 0.8


class Bottleneck(nn.Module):
    """1x1 → 3x3 (carrying the stride) → 1x1, with a projection shortcut when the shape changes."""

    def __init__(self, in_channels: int, width: int, stride: int):
        super().__init__()
        out_channels = width * BOTTLENECK_EXPANSION
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


class ResNet50Backbone(nn.Module):
    """(B,3,224,224) RGB in [0,1] → (B,2048) features."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = 64
        for index, (width, blocks, stride) in enumerate(RESNET50_STAGES, start=1):
            stage = []
            for block in range(blocks):
                stage.append(Bottleneck(in_channels, width, stride if block == 0 else 1))
                in_channels = width * BOTTLENECK_EXPANSION
            self.add_module(f"layer{index}", nn.Sequential(*stage))
        self.avgpool = nn.AvgPool2d(7, stride=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


class DecaEncoder(nn.Module):
    """ResNet-50 features → Linear(2048,1024) → ReLU → Linear(1024, outputs)."""

    def __init__(self, outputs: int):
        super().__init__()
        self.encoder = ResNet50Backbone()
        self.layers = nn.Sequential(nn.Linear(FEATURE_SIZE, HIDDEN_SIZE), nn.ReLU(), nn.Linear(HIDDEN_SIZE, outputs))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B,3,224,224) RGB in [0,1], no mean/std normalisation. Returns (B,outputs)."""
        if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"DECA's encoders take {INPUT_SIZE}x{INPUT_SIZE} images, got {tuple(images.shape)}")
        return self.layers(self.encoder(images))


class DetailGenerator(nn.Module):
    """(B,181) latent → (B,1,256,256) displacements along the normal, in metres (tanh × 0.01)."""

    def __init__(self, latent_size: int = DETAIL_LATENT_SIZE):
        super().__init__()
        first = DETAIL_CHANNELS[0]
        self.l1 = nn.Sequential(nn.Linear(latent_size, first * DETAIL_START_SIZE ** 2))
        blocks: list[nn.Module] = [nn.BatchNorm2d(first)]
        for in_channels, out_channels in pairwise(DETAIL_CHANNELS):
            blocks += [nn.Upsample(scale_factor=2, mode="bilinear"),
                       nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1),
                       nn.BatchNorm2d(out_channels, DETAIL_BATCHNORM_EPS),
                       nn.LeakyReLU(0.2, inplace=True)]
        blocks += [nn.Conv2d(DETAIL_CHANNELS[-1], 1, 3, stride=1, padding=1), nn.Tanh()]
        self.conv_blocks = nn.Sequential(*blocks)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        start = self.l1(latent).view(latent.shape[0], DETAIL_CHANNELS[0], DETAIL_START_SIZE, DETAIL_START_SIZE)
        return self.conv_blocks(start) * DETAIL_OUTPUT_SCALE


def build_deca_networks() -> dict[str, nn.Module]:
    """The three networks of deca_model.tar under their checkpoint names, randomly initialised, in eval mode."""
    networks = {"E_flame": DecaEncoder(FLAME_CODE_SIZE), "E_detail": DecaEncoder(DETAIL_CODE_SIZE),
                "D_detail": DetailGenerator()}
    for network in networks.values():
        network.eval()
    return networks
