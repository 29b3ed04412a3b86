"""The ``python_function`` flavour of a registered package: nerp's engine behind MLflow's API.

``mlflow.pyfunc.load_model("models:/resume-ner@champion").predict(["text", ...])`` returns,
per text, the entities as dicts (``text``, ``label``, ``start``, ``end``, ``confidence``),
exactly what ``nerp predict`` writes. Imports MLflow at module level: import it only where
MLflow is installed.
"""

from __future__ import annotations

from typing import Any

from mlflow.pyfunc import PythonModel

from nerp_deploy.engine import OnnxEngine
from nerp_deploy.registry.names import PACKAGE_ARTIFACT

__all__ = ["NerpOnnxModel"]


class NerpOnnxModel(PythonModel):
    """Loads the package shipped in the model's artifacts with :class:`OnnxEngine`."""

    def __init__(self) -> None:
        self.engine: OnnxEngine | None = None

    def load_context(self, context: Any) -> None:
        self.engine = OnnxEngine.load(context.artifacts[PACKAGE_ARTIFACT])

    def predict(
        self, context: Any, model_input: list[str], params: dict[str, Any] | None = None
    ) -> list[list[dict[str, Any]]]:
        if self.engine is None:
            self.load_context(context)
        assert self.engine is not None
        texts = [str(text) for text in model_input]
        return [
            [entity.model_dump() for entity in entities]
            for entities in self.engine.predict_batch(texts)
        ]
