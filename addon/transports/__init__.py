"""Client-side transports to a PromptFace backend: all take the same requests and return an expression set."""
