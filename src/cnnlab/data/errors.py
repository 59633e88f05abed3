"""The errors the data package raises.

They live here until ``cnnlab.errors`` grows a ``DatasetError`` family; each subclasses the
builtin a caller would already catch (``FileNotFoundError`` for absent files,
``RuntimeError`` for files that are present but wrong), and each message names what was
found and the fix.
"""

from __future__ import annotations

import pickle

from ..errors import CnnlabError


class DatasetNotFoundError(CnnlabError, FileNotFoundError):
    """A dataset's files are not in any folder searched."""


class DatasetIntegrityError(CnnlabError, RuntimeError):
    """A dataset file that is present but damaged, altered or in an unexpected format."""


class UnsafePickleError(DatasetIntegrityError, pickle.UnpicklingError):
    """A pickle that asks for anything beyond plain containers and NumPy arrays."""


class DownloadError(CnnlabError, RuntimeError):
    """No mirror delivered a file with the expected checksum."""
