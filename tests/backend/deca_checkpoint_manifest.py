"""A test oracle: every key and shape of the released deca_model.tar, written out by hand from the documented
architecture (torchvision's ResNet-50 naming, DECA's heads and detail generator), independently of
backend.deca.networks, so comparing the two is a real check. The backend reads what the file must hold off its
networks and never imports this.
"""
Manifest = dict[str, tuple[int, ...]]

# The backbone sits under this attribute of the encoders, the MLP head under `layers` (as DECA's ResnetEncoder names
# them: checked by reading its encoders.py, no code taken).
BACKBONE_PREFIX = "encoder."
ENCODER_OUTPUTS = {"E_flame": 236, "E_detail": 128}
RESNET50_STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))  # bottleneck width, blocks
EXPANSION = 4
DETAIL_LATENT = 181
# D_detail's conv_blocks: index → (in, out) channels of each convolution, channels of each batch norm.
DETAIL_CONVS = {2: (128, 128), 6: (128, 64), 10: (64, 64), 14: (64, 32), 18: (32, 16), 21: (16, 1)}
DETAIL_BATCHNORMS = {0: 128, 3: 128, 7: 64, 11: 64, 15: 32, 19: 16}


def _batchnorm(prefix: str, channels: int) -> Manifest:
    return {f"{prefix}.weight": (channels,), f"{prefix}.bias": (channels,), f"{prefix}.running_mean": (channels,),
            f"{prefix}.running_var": (channels,), f"{prefix}.num_batches_tracked": ()}


def resnet50_manifest(prefix: str = "") -> Manifest:
    """Keys and shapes of torchvision's ResNet-50 without `fc`, in state-dict order."""
    keys: Manifest = {f"{prefix}conv1.weight": (64, 3, 7, 7), **_batchnorm(f"{prefix}bn1", 64)}
    in_channels = 64
    for stage, (width, blocks) in enumerate(RESNET50_STAGES, start=1):
        out_channels = width * EXPANSION
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
    keys: Manifest = {"l1.0.weight": (128 * 8 * 8, DETAIL_LATENT), "l1.0.bias": (128 * 8 * 8,)}
    for index in sorted({*DETAIL_CONVS, *DETAIL_BATCHNORMS}):
        if index in DETAIL_CONVS:
            in_channels, out_channels = DETAIL_CONVS[index]
            keys[f"conv_blocks.{index}.weight"] = (out_channels, in_channels, 3, 3)
            keys[f"conv_blocks.{index}.bias"] = (out_channels,)
        else:
            keys.update(_batchnorm(f"conv_blocks.{index}", DETAIL_BATCHNORMS[index]))
    return keys


def released_manifest() -> dict[str, Manifest]:
    """Every key and shape of the released deca_model.tar, per network, in state-dict order."""
    return {"E_flame": encoder_manifest(ENCODER_OUTPUTS["E_flame"]),
            "E_detail": encoder_manifest(ENCODER_OUTPUTS["E_detail"]),
            "D_detail": detail_generator_manifest()}
