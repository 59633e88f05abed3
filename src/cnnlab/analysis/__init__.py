"""Analysis of networks: per-layer records, counts, receptive fields and memory, all from
one recorded forward pass on the meta device (no memory, no arithmetic)."""

from .capture import analyze, count_macs, parse_input_size
from .compare import Comparison, compare, inference_params
from .receptive_field import empirical_region
from .records import SCHEMA, Analysis, LayerRecord, ModuleRecord, ReceptiveField, TrainingMemory
from .trace import LeafRow, count_params, leaf_trace

__all__ = [
    "inference_params",
    "SCHEMA",
    "Analysis",
    "Comparison",
    "LayerRecord",
    "LeafRow",
    "ModuleRecord",
    "ReceptiveField",
    "TrainingMemory",
    "analyze",
    "compare",
    "count_macs",
    "count_params",
    "empirical_region",
    "leaf_trace",
    "parse_input_size",
]
