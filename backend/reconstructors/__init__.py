"""Reconstructors turn an edited face photo into vertices in the base topology plus a texture in the
base UV layout (pipeline steps 2 and 7), with the neutral identity locked."""
