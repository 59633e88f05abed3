"""The lectures' claims and experiments: each a function that checks one number or runs one
experiment and returns a verdict (``cnnlab repro``). Above ``analysis`` and ``engine``,
which it uses; the training experiments and the decks' further claims (``deck_claims``)
register when this package is imported."""

from . import deck_claims, experiments  # noqa: F401  (register the decks' count claims and the training claims)
from .claims import (
    KINDS,
    SCHEMA,
    TRAINING_VERDICTS,
    VERDICTS,
    Check,
    Claim,
    ClaimResult,
    claim_to_dict,
    get_claim,
    list_claims,
    register_claim,
    run_claim,
)

__all__ = [
    "KINDS",
    "SCHEMA",
    "TRAINING_VERDICTS",
    "VERDICTS",
    "Check",
    "Claim",
    "ClaimResult",
    "claim_to_dict",
    "get_claim",
    "list_claims",
    "register_claim",
    "run_claim",
]
