"""Every operator of the add-on, one module per kind: on a face in the scene (face.py), on a rigged face's poses
and takes (rig.py), on the panel's prompt list (prompt_list.py), and those that talk to a backend (remote.py).
`classes` is what addon/__init__.py registers."""
from . import face, prompt_list, remote, rig

classes = (*face.classes, *rig.classes, *prompt_list.classes, *remote.classes)
