"""The `warp` editor (CPU): action units → landmark displacement → piecewise-affine warp of the face crop."""
from backend.subject.calibration import Subject, warp_crop
from backend.editors.editing import EditedPhoto, Editor, EditRequest
from backend.editors.mouth_drawing import draw_mouth_interior
from backend.editors.photo_teeth import cut_photo_teeth
from backend.editors.wrinkles import shade_wrinkles

NAME = "warp"
VERSION = "1"


class WarpEditor(Editor):
    name = NAME
    version = VERSION
    batch_size = 1  # one prompt at a time: each expression reaches the caller as soon as it is done

    def __init__(self):
        self._teeth = (None, None)  # (the subject, its photo's teeth): cut once, drawn into every expression

    def settings(self) -> dict:
        return {}

    def edit_batch(self, subject: Subject, requests: list[EditRequest]) -> list[EditedPhoto]:
        return [self.edit(subject, request.intent.action_units) for request in requests]

    def edit(self, subject: Subject, action_units: dict[str, float]) -> EditedPhoto:
        """Warp the subject's neutral crop into the expression given by action-unit intensities."""
        displacement_m = subject.action_units.displacement(action_units)
        image, moved_px = self._drawn(subject, displacement_m, action_units)
        # The landmarks are exact: the warp put them there.
        return EditedPhoto(image=image, full_prompt=action_unit_text(action_units), landmarks_px=moved_px)

    def draw(self, subject: Subject, displacement_m, creases: dict[str, float]):
        """(S,S,3) the subject's crop with its (468,3) landmarks moved by displacement_m (metres), the mouth's
        interior where it opens and the creases of the action units in `creases` (the ARKit rig's shapes)."""
        return self._drawn(subject, displacement_m, creases)[0]

    def _drawn(self, subject: Subject, displacement_m, creases: dict[str, float]):
        neutral_px = subject.landmarks_px
        moved_px = subject.crop_to_mesh.to_pixels(subject.crop_to_mesh.to_metres(neutral_px) + displacement_m)
        warped = warp_crop(subject.crop, neutral_px, moved_px)
        # What a warp cannot move into place: an opened mouth's interior (the photo's own teeth when it showed
        # them, drawn teeth otherwise) and the creases the action units make.
        mouth = subject.topology.mouth_loop
        image = draw_mouth_interior(warped, neutral_px, moved_px, mouth, self._photo_teeth(subject))
        return shade_wrinkles(image, moved_px, creases), moved_px

    def _photo_teeth(self, subject: Subject):
        """The subject's own teeth strip (None when its photo shows none), cut on its first expression."""
        cached_subject, teeth = self._teeth
        if cached_subject is not subject:
            teeth = cut_photo_teeth(subject.photo_crop, subject.photo_landmarks_px, subject.topology.mouth_loop)
            self._teeth = (subject, teeth)
        return teeth


def action_unit_text(action_units: dict[str, float]) -> str:
    """What the warp editor was asked for: 'AU6:0.50 AU12:1.00', in FACS order."""
    ordered = sorted(action_units.items(), key=lambda item: int(item[0][2:].rstrip("LR")))
    return " ".join(f"{unit}:{value:.2f}" for unit, value in ordered) or "neutral (no action units)"
