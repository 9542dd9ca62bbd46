"""llmenv: a doctor for the environment of OpenAI API (and compatible endpoint) projects."""

__version__ = "0.1.0"
