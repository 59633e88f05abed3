"""cnnlab: the landmark convolutional networks, built from their papers' tables.

>>> import cnnlab
>>> model = cnnlab.create_model("vgg16", num_classes=10)
>>> cnnlab.model_card("vgg16").deviations
>>> cnnlab.analyze("vgg16").macs  # 15,470,264,320 multiply-accumulates at 224x224
"""

# The model files register themselves when imported: importing the package loads them.
from .models import create_model  # noqa: I001  (first: everything below finds the registry full)
from .analysis import Analysis, analyze, compare
from .errors import (
    CheckpointError,
    CnnlabError,
    ConfigError,
    DatasetIntegrityError,
    DatasetNotFoundError,
    InputShapeError,
    TrainingDivergedError,
    UnknownModelError,
    WeightsError,
)
from .registry import ModelCard, Paper, list_models, model_card, model_options

__version__ = "0.1.0"

# Rich display in Jupyter: the renderers of Analysis, ModelCard, Comparison, Explanation, the
# runs table and a claim's result register in cnnlab.display (after __version__, which the
# report's templates print).
from .report import notebook as _notebook  # noqa: E402, F401

__all__ = [
    "Analysis",
    "CheckpointError",
    "CnnlabError",
    "ConfigError",
    "DatasetIntegrityError",
    "DatasetNotFoundError",
    "InputShapeError",
    "ModelCard",
    "Paper",
    "TrainingDivergedError",
    "UnknownModelError",
    "WeightsError",
    "analyze",
    "compare",
    "create_model",
    "list_models",
    "model_card",
    "model_options",
]
