"""Labelled phrases for turning free text into a soft emotion mixture (our own wording, a few per emotion)."""

EMOTION_PHRASES: dict[str, tuple[str, ...]] = {
    "neutral": (
        "a neutral face", "a calm, relaxed expression", "no emotion at all", "a blank, expressionless look",
        "a composed and indifferent face", "a resting face", "a passport photo face", "serene and still",
    ),
    "happy": (
        "a happy smile", "joyful and cheerful", "a big grin", "delighted and pleased", "laughing with joy",
        "a warm friendly smile", "content and satisfied", "beaming with happiness", "overjoyed", "amused",
        "grateful and glad",
    ),
    "sad": (
        "a sad face", "unhappy and downcast", "sorrowful and grieving", "about to cry",
        "gloomy and depressed", "disappointed", "melancholy", "miserable", "lonely and hurt",
    ),
    "surprised": (
        "a surprised face", "astonished with wide eyes", "shocked and amazed", "caught off guard", "in awe",
        "stunned, mouth open", "a sudden surprise", "startled", "wow, unbelievable",
    ),
    "afraid": (
        "a frightened face", "scared and terrified", "full of fear", "anxious and worried", "panicking",
        "horrified", "nervous and tense", "alarmed by danger", "petrified", "dread",
    ),
    "angry": (
        "an angry face", "furious and enraged", "annoyed and irritated", "frowning in rage", "hostile glare",
        "mad and frustrated", "fuming", "outraged", "grumpy and cross", "seething",
    ),
    "disgusted": (
        "a disgusted face", "revolted by a bad smell", "grossed out", "nauseated", "repulsed",
        "yuck, that is gross", "sickened", "wrinkling the nose in distaste", "an awful taste",
    ),
    "contemptuous": (
        "a contemptuous smirk", "scornful and superior", "disdainful", "looking down on someone",
        "a condescending sneer", "mocking", "unimpressed and dismissive", "sarcastic half smile",
    ),
}
