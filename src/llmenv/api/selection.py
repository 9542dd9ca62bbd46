"""How the `api` check hands the model it chose to the `completion` check: a finding that carries it."""

from __future__ import annotations

from dataclasses import dataclass

from llmenv.findings import CheckResult, Finding


@dataclass(frozen=True)
class ModelSelection(Finding):
    """The `model-selected` finding, which also carries the chosen model id and why it was chosen.

    It renders like any finding (code, severity, message); the extra fields are for the completion
    check, which reads them back with `selected_model()`.
    """

    model: str = ""
    source: str = ""  # "--model", "LLMENV_MODEL (.env:3)", "default", "server list"


def model_selected(model: str, source: str, message: str, detail: str | None = None) -> ModelSelection:
    """The info finding that names the model the test completion will use."""
    return ModelSelection("model-selected", "info", message, detail=detail, model=model, source=source)


def selected_model(result: CheckResult | None) -> ModelSelection | None:
    """The model the api check chose, read back from its result; None when it chose none."""
    if result is None or result.skipped:
        return None
    return next((f for f in result.findings if isinstance(f, ModelSelection) and f.model), None)
