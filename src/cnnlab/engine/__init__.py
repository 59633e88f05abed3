"""Training as plain functions plus callbacks.

    >>> from cnnlab.engine import fit, Checkpointer, MetricsLogger, ProgressBar
    >>> history = fit(model, train_loader, val_loader, optimizer, epochs=10, device="cpu",
    ...               run_dir="runs/lenet5", callbacks=[ProgressBar(), MetricsLogger(),
    ...               Checkpointer(every=5)])
    >>> history = fit(..., epochs=20, resume_from="runs/lenet5")   # continue exactly

Under ``torchrun``: ``info = init_distributed()``, loaders sharded by ``info.rank`` and
``info.world_size``, ``fit(wrap_ddp(model, info.device), ...)``, ``cleanup_distributed()``.
To compile a model with auxiliary heads, compile ``training_module(model)``.
"""

from .callbacks import (
    Callback,
    Checkpointer,
    EarlyStopping,
    History,
    MetricsLogger,
    ProgressBar,
    TensorBoardLogger,
    TrainState,
    WandbLogger,
)
from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    restore_training_state,
    resume_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .distributed import (
    DistInfo,
    all_reduce_metrics,
    cleanup_distributed,
    init_distributed,
    is_main_process,
    training_module,
    unwrap,
    wrap_ddp,
)
from .loop import TrainingDivergedError, evaluate, fit, train_one_epoch

__all__ = [
    "Callback",
    "CheckpointError",
    "Checkpointer",
    "DistInfo",
    "EarlyStopping",
    "History",
    "MetricsLogger",
    "ProgressBar",
    "TensorBoardLogger",
    "TrainState",
    "TrainingDivergedError",
    "WandbLogger",
    "all_reduce_metrics",
    "cleanup_distributed",
    "evaluate",
    "fit",
    "init_distributed",
    "is_main_process",
    "load_checkpoint",
    "restore_training_state",
    "resume_state",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
    "train_one_epoch",
    "training_module",
    "unwrap",
    "wrap_ddp",
]
