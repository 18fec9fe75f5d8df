"""`promptface bench`: the client side's benchmarks (the backend's are backend/bench/, `promptface-backend bench`).
They print times and ratios against a baseline measured in the same run; they never pass or fail.

- scene.py      scene: building a face with 10 expressions, foreach_set against a per-vertex Python loop (5k and 60k
                vertices); disk: bytes for a 4-expression timeline, ours (expression set + .blend + .fbx) against the
                thesis' way (10 in-between OBJ + 1024² PNG per transition); animate: `promptface animate` on the
                sample with 3 prompts, split into pipeline, scene, export and preview
- rig.py        rig: building a face with the ARKit rig's 52 shape keys against a key per prompt (5k and 60k
                vertices)
- transports.py the same 3-prompt job in the backend's own process (`promptface-backend bench job`), over HTTP and
                over SSH; and, in Blender, the time from Generate until the first expression is on the face
- loopback_sshd.py  the throwaway sshd on loopback that `bench transports` and the SSH tests use

Like addon/cli.py and addon/animate.py, this package runs outside Blender only: the extension zip leaves it out
(addon/build_extension.py).
"""
