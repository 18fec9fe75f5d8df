"""Labelled phrases for turning free text into a soft emotion mixture (our own wording, a few per emotion).

Each phrase carries the intensity it expresses (1 = the plain emotion): the nearest phrase of an emotion gives
free text its strength, so "furious" is stronger than "angry" and "a faint smile" weaker than "happy".
"""

EMOTION_PHRASES: dict[str, tuple[tuple[str, float], ...]] = {
    "neutral": (
        ("a neutral face", 1.0), ("a calm, relaxed expression", 1.0), ("no emotion at all", 1.0),
        ("a blank, expressionless look", 1.0), ("a composed and indifferent face", 1.0), ("a resting face", 1.0),
        ("a passport photo face", 1.0), ("serene and still", 1.0),
    ),
    "happy": (
        ("a happy smile", 1.0), ("joyful and cheerful", 1.0), ("a big grin", 1.3), ("delighted and pleased", 1.1),
        ("laughing with joy", 1.4), ("a warm friendly smile", 0.8), ("content and satisfied", 0.6),
        ("beaming with happiness", 1.4), ("overjoyed", 1.5), ("ecstatic", 1.5), ("amused", 0.7),
        ("grateful and glad", 0.8), ("a faint smile", 0.35), ("a hint of a smile", 0.35),
        ("a polite little smile", 0.5),
    ),
    "sad": (
        ("a sad face", 1.0), ("unhappy and downcast", 1.0), ("sorrowful and grieving", 1.3), ("about to cry", 1.3),
        ("gloomy and depressed", 1.1), ("disappointed", 0.7), ("melancholy", 0.8), ("miserable", 1.3),
        ("lonely and hurt", 1.0), ("heartbroken and devastated", 1.5), ("a little down", 0.5),
    ),
    "surprised": (
        ("a surprised face", 1.0), ("astonished with wide eyes", 1.2), ("shocked and amazed", 1.3),
        ("caught off guard", 0.9), ("in awe", 0.9), ("stunned, mouth open", 1.3), ("a sudden surprise", 1.0),
        ("startled", 1.1), ("wow, unbelievable", 1.2), ("mildly curious, eyebrows raised", 0.5),
    ),
    "afraid": (
        ("a frightened face", 1.0), ("scared and terrified", 1.4), ("full of fear", 1.2),
        ("anxious and worried", 0.7), ("panicking", 1.4), ("horrified", 1.5), ("nervous and tense", 0.6),
        ("alarmed by danger", 1.1), ("petrified", 1.5), ("dread", 1.1),
    ),
    "angry": (
        ("an angry face", 1.0), ("furious and enraged", 1.5), ("annoyed and irritated", 0.6),
        ("frowning in rage", 1.3), ("hostile glare", 1.0), ("mad and frustrated", 0.9), ("fuming", 1.4),
        ("outraged", 1.4), ("grumpy and cross", 0.7), ("seething", 1.3), ("livid with rage", 1.5),
    ),
    "disgusted": (
        ("a disgusted face", 1.0), ("revolted by a bad smell", 1.2), ("grossed out", 1.1), ("nauseated", 1.2),
        ("repulsed", 1.3), ("yuck, that is gross", 1.1), ("sickened", 1.2), ("wrinkling the nose in distaste", 0.8),
        ("an awful taste", 1.0), ("mild distaste", 0.5),
    ),
    "contemptuous": (
        ("a contemptuous smirk", 1.0), ("scornful and superior", 1.1), ("disdainful", 1.0),
        ("looking down on someone", 1.0), ("a condescending sneer", 1.2), ("mocking", 1.0),
        ("unimpressed and dismissive", 0.8), ("sarcastic half smile", 0.9),
    ),
}
