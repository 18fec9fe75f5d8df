"""The engine registry: `Engines`, everything loaded once (face and identity models, the editors and reconstructors,
the self-check, the sentence model on first use) so that a server keeps it warm across subjects and prompts. The
engines' names are the protocol's (addon/core/protocol.py EDITORS, RECONSTRUCTORS), which the add-on offers too.
"""
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from addon.core.errors import PromptFaceError
from addon.core.protocol import check_engines
from backend.editors.editing import Editor
from backend.editors.warp import WarpEditor
from backend.metrics.image_metrics import IdentityEmbedder
from backend.prompts.text_to_action_units import TextEmotionModel
from backend.reconstructors.landmarks import LandmarkReconstructor
from backend.reconstructors.reconstruction import Reconstructor
from backend.subject.calibration import Subject
from backend.subject.face_detection import FaceFinder, LandmarkDetector

if TYPE_CHECKING:
    from backend.editors.diffedit_settings import DiffEditSettings
    from backend.metrics.expression_recognition import ExpressionRecogniser

DIFFEDIT_NOT_CONFIGURED = ("the diffedit editor is not loaded here: it needs a Stable Diffusion model (a GPU is "
                           "advised); pass --diffedit-model FOLDER_OR_HUB_ID to `promptface-backend serve`, or set "
                           "PROMPTFACE_DIFFEDIT_MODEL where it runs")
DECA_NOT_CONFIGURED = ("the deca reconstructor is not loaded here: it needs the DECA and FLAME files (licensed by "
                       "their owners); pass --deca-folder FOLDER to `promptface-backend serve`, or set "
                       "PROMPTFACE_DECA_FOLDER where it runs")

# Engines.text_model_status() until a free-text prompt has loaded the sentence model.
TEXT_MODEL_NOT_LOADED = "loads on first free-text prompt"


@dataclass
class Engines:
    """Models loaded once and reused across subjects and prompts."""
    finder: FaceFinder
    detector: LandmarkDetector
    embedder: IdentityEmbedder
    editors: dict[str, Editor]                  # name → a loaded editor
    reconstructors: dict[str, Reconstructor]    # name → a loaded reconstructor
    recogniser: "ExpressionRecogniser | None" = None  # the expression self-check (None: its weights are missing)
    load_seconds: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # engine name → why it is not loaded
    _text_model: TextEmotionModel | None = None
    # The worker thread loads the sentence model for a job while other threads may ask about it.
    _text_model_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, editor: str = "warp", reconstructor: str = "landmarks",
             diffedit: "DiffEditSettings | None" = None, deca_folder: str | Path | None = None) -> "Engines":
        """The face and identity models and the engines. diffedit and deca load only when configured (their
        settings, their folder); failing to load the editor or reconstructor asked for is an error, otherwise the
        reason is kept and reported."""
        check_engines(editor, reconstructor)
        if editor == "diffedit" and diffedit is None:
            raise PromptFaceError(DIFFEDIT_NOT_CONFIGURED)
        if reconstructor == "deca" and deca_folder is None:
            raise PromptFaceError(DECA_NOT_CONFIGURED)
        seconds, unavailable = {}, {"diffedit": DIFFEDIT_NOT_CONFIGURED, "deca": DECA_NOT_CONFIGURED}
        # First the optional engines: missing files are reported before anything else loads.
        editors, reconstructors = {"warp": WarpEditor()}, {}
        if diffedit is not None:
            from backend.editors.diffedit import DiffEditEditor
            _load_optional("diffedit", lambda: DiffEditEditor.from_pretrained(diffedit), editors, unavailable,
                           seconds, required=editor == "diffedit")
        if deca_folder is not None:
            from backend.reconstructors.deca import DecaPipelineReconstructor
            _load_optional("deca", lambda: DecaPipelineReconstructor.from_folder(deca_folder), reconstructors,
                           unavailable, seconds, required=reconstructor == "deca")
        start = time.perf_counter()
        finder, detector = FaceFinder(), LandmarkDetector()
        seconds["face_models"] = time.perf_counter() - start
        start = time.perf_counter()
        embedder = IdentityEmbedder(finder)
        seconds["identity_model"] = time.perf_counter() - start
        reconstructors["landmarks"] = LandmarkReconstructor(detector)
        start = time.perf_counter()
        try:  # the self-check is a report, not a step: the pipeline runs without it
            from backend.metrics.expression_recognition import ExpressionRecogniser  # torch, h5py: loaded only here
            recogniser = ExpressionRecogniser()
        except ImportError as error:
            recogniser, unavailable["recogniser"] = None, f"the expression self-check needs {error.name or 'h5py'}"
        except PromptFaceError as error:
            recogniser, unavailable["recogniser"] = None, str(error)
        seconds["recogniser_model"] = time.perf_counter() - start
        return cls(finder=finder, detector=detector, embedder=embedder, editors=editors,
                   reconstructors=reconstructors, recogniser=recogniser, load_seconds=seconds,
                   unavailable=unavailable)

    def editor_for(self, name: str) -> Editor:
        """The loaded editor called name; an error saying why when it is not loaded."""
        check_engines(name, "landmarks")
        if name not in self.editors:
            raise PromptFaceError(self.unavailable.get(name, f"the editor '{name}' is not loaded"))
        return self.editors[name]

    def reconstructor_for(self, name: str) -> Reconstructor:
        """The loaded reconstructor called name; an error saying why when it is not loaded."""
        check_engines("warp", name)
        if name not in self.reconstructors:
            raise PromptFaceError(self.unavailable.get(name, f"the reconstructor '{name}' is not loaded"))
        return self.reconstructors[name]

    def read_expression(self, image: np.ndarray, subject: Subject) -> dict[str, float] | None:
        """The self-check: {class: probability} for an (S,S,3) crop of the subject; None without the recogniser.
        The neutral's landmarks frame every expression alike, so readings of one subject compare."""
        if self.recogniser is None:
            return None
        return self.recogniser.read(image, subject.landmarks_px)

    def text_model(self) -> TextEmotionModel:
        """The sentence model, loaded on first use (only free-text prompts need it), once whichever thread asks."""
        with self._text_model_lock:
            if self._text_model is None:
                start = time.perf_counter()
                self._text_model = TextEmotionModel()
                self.load_seconds["text_model"] = time.perf_counter() - start
            return self._text_model

    @property
    def text_model_loaded(self) -> bool:
        return self._text_model is not None

    def text_model_status(self) -> str:
        """What to report about the sentence model: whether it is loaded, or when it will be."""
        return "loaded" if self.text_model_loaded else TEXT_MODEL_NOT_LOADED


def _load_optional(name: str, load: Callable[[], object], loaded: dict, unavailable: dict[str, str],
                   seconds: dict[str, float], required: bool) -> None:
    """Load one optional engine into loaded[name]; its error is raised when required, else kept in unavailable."""
    start = time.perf_counter()
    try:
        loaded[name] = load()
        del unavailable[name]
    except PromptFaceError as error:
        if required:
            raise
        unavailable[name] = str(error)
    seconds[f"{name}_model"] = time.perf_counter() - start
