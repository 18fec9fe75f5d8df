"""Remote generation from the add-on: a worker thread talks to the backend (pure, worker.py) and Blender's main
thread applies what arrives to the scene (session.py)."""
