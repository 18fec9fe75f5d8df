"""The `deca` reconstructor (DECA, Feng et al. 2021) with the neutral identity locked: networks, checkpoint, crop,
UV rasterisation and the reconstructor that ties them together."""
