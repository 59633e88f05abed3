"""Exceptions that cnnlab raises on purpose.

Each one subclasses the builtin a caller would already catch (``ValueError`` for bad
arguments, ``RuntimeError`` for failed loads) so existing ``except`` clauses keep working,
and its message names the value received and the fix.
"""

from __future__ import annotations


class CnnlabError(Exception):
    """Base class of every error cnnlab raises deliberately."""


class UnknownModelError(CnnlabError, ValueError):
    """A model name that is not in the registry."""


class ConfigError(CnnlabError, ValueError):
    """An option, class count, channel count or other setting that cannot be used."""


class InputShapeError(CnnlabError, ValueError):
    """An input tensor whose shape the model cannot process."""


class WeightsError(CnnlabError, RuntimeError):
    """Weights that could not be found, downloaded or mapped onto a model."""
