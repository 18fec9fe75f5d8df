"""Training commands of the compute side: LoRA adapters for the DiffEdit editor."""
