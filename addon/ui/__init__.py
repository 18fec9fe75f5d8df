"""The sidebar: scene properties, the panel, and the operators behind its buttons (one kind of class per file)."""
