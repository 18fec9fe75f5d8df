"""FLAME (Li et al. 2017): file loading (assets), pure maths (lbs) and the torch module (flame_model)."""
