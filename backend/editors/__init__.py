"""Editors turn the neutral face crop into an expression photo (pipeline step 5)."""
