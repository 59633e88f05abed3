"""The ``cnnlab`` command line: parse, call the library, render. No logic of its own."""

from .main import main

__all__ = ["main"]
