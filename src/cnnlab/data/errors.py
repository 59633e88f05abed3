"""The errors the data package raises (defined in :mod:`cnnlab.errors`, with the rest)."""

from __future__ import annotations

from ..errors import DatasetIntegrityError, DatasetNotFoundError, DownloadError, UnsafePickleError

__all__ = ["DatasetIntegrityError", "DatasetNotFoundError", "DownloadError", "UnsafePickleError"]
