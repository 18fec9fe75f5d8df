"""The `deca` reconstructor (DECA, Feng et al. 2021) with the neutral identity locked: the folder's data files (assets),
networks, checkpoint, crop, UV rasterisation and the reconstructor that ties them together."""
