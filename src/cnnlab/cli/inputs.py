"""``--input``, parsed one way by every command that takes it (summary, rf, compare, bench,
export): ``CxHxW``, or ``HxW`` / one size ``S`` (``SxS``) with the model's own channels."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..analysis import parse_input_size
from ..errors import InputShapeError

# (channels or None, height, width): None until the model's channel count is known.
InputArg = tuple[int | None, int, int]

METAVAR = "CxHxW"
HELP = "CxHxW, e.g. 3x224x224; HxW or one size S (SxS) keep the model's own channels"


def parse_input_arg(text: str) -> InputArg:
    """An argparse ``type``: ``"3x224x224"`` -> ``(3, 224, 224)``, ``"224x192"`` ->
    ``(None, 224, 192)``, ``"224"`` -> ``(None, 224, 224)``; anything else is a usage error
    that names the value and the forms accepted."""
    try:
        parts = parse_input_size(text.replace(" ", ""))  # the Python API's reading of "3x224x224"
    except InputShapeError:
        parts = ()
    if len(parts) in (1, 2, 3):
        if len(parts) == 1:
            return (None, parts[0], parts[0])
        if len(parts) == 2:
            return (None, *parts)
        return parts  # type: ignore[return-value]
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a size: give CxHxW, e.g. 3x224x224 (or HxW / one size for the model's own channels)"
    )


def with_channels(size: InputArg | None, channels: int) -> tuple[int, int, int] | None:
    """``size`` from :func:`parse_input_arg` with a missing channel count filled in."""
    if size is None:
        return None
    c, h, w = size
    return (channels if c is None else c, h, w)


def model_channels(name: str, options: dict | None = None) -> int:
    """The input channels ``create_model(name, **options)`` builds: ``in_chans`` when given,
    else the model card's."""
    from ..registry import model_card

    chans = dict(options or {}).get("in_chans")
    if isinstance(chans, int) and not isinstance(chans, bool) and chans > 0:
        return chans
    return model_card(name).input_size[0]  # a bad in_chans is create_model's to refuse


def add_input_argument(p: argparse.ArgumentParser, default_text: str, *, flags: Sequence[str] = ("--input",)) -> None:
    """The ``--input`` option, the same for every command; ``default_text`` says what is used
    when it is left out."""
    p.add_argument(
        *flags, type=parse_input_arg, default=None, metavar=METAVAR, help=f"{HELP} (default: {default_text})"
    )
