"""Analysis of networks: counts and traces on the meta device (no memory, no arithmetic)."""

from .trace import LeafRow, count_macs, count_params, leaf_trace

__all__ = ["LeafRow", "count_macs", "count_params", "leaf_trace"]
