"""FLAME (Li et al. 2017): reading generic_model.pkl (assets), pure maths (lbs) and the torch module (flame_model)."""
