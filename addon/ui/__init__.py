"""The sidebar: scene properties and the panel (one kind of class per file); the operators behind its buttons are in
addon/operators/."""
