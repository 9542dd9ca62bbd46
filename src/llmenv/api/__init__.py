"""A small OpenAI-compatible client (no `openai` SDK), the one error classifier, and models as data.

Importing this package does not import requests: the client imports it when it first sends.
"""

from llmenv.api.classify import ApiProblem, classify
from llmenv.api.client import ApiClient, ApiResponse, Completion, ModelList
from llmenv.api.selection import ModelSelection, selected_model

__all__ = [
    "ApiClient",
    "ApiProblem",
    "ApiResponse",
    "Completion",
    "ModelList",
    "ModelSelection",
    "classify",
    "selected_model",
]
