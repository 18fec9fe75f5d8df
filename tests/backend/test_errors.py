"""What a client may read in an error: no folders of the server."""
from pathlib import Path

from backend.errors import public_message


def test_paths_under_the_data_dir_become_relative_and_others_their_last_part(tmp_path):
    data_dir = tmp_path / "data"
    message = (f"cannot read {data_dir}/subjects/ab12/photo.png, nor '/opt/models/deca/deca_model.tar', nor "
               r"C:\Users\me\weights.onnx; see GET /v1/jobs/0123/assets/manifest.json")
    public = public_message(message, data_dir)
    assert public == ("cannot read subjects/ab12/photo.png, nor 'deca_model.tar', nor weights.onnx; "
                      "see GET /v1/jobs/0123/assets/manifest.json")


def test_messages_without_paths_are_unchanged():
    for message in ("70% happy + 30% surprised is 2/3 done", "prompt 1 is 300 characters; the limit is 200", ""):
        assert public_message(message, Path("/srv/pf")) == message
