"""Helpers shared by the engine tests: a tiny loader and a stub schedule, independent of
cnnlab.data so the loop is tested on its contract alone."""

from __future__ import annotations

import math

import torch
from torch import nn


class TensorLoader:
    """Batches of in-memory tensors, shuffled by ``seed + epoch`` (so ``set_epoch`` fixes the
    order) and sharded like DistributedSampler: global batch k has ``batch_size * world_size``
    samples, rank r takes its r-th slice. ``flip=True`` mirrors a random half of each batch
    with the global torch generator, so a resumed run depends on restored RNG state."""

    def __init__(self, x, y, batch_size, *, shuffle=True, seed=0, rank=0, world_size=1, flip=False):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.seed, self.rank, self.world_size, self.flip = shuffle, seed, rank, world_size, flip
        self.epoch = 0
        self.epochs_set = []

    def set_epoch(self, epoch):
        self.epoch = epoch
        self.epochs_set.append(epoch)

    def __len__(self):
        return math.ceil(len(self.x) / (self.batch_size * self.world_size))

    def __iter__(self):
        n = len(self.x)
        order = torch.arange(n)
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        step = self.batch_size * self.world_size
        for start in range(0, n, step):
            idx = order[start : start + step][self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
            x = self.x[idx]
            if self.flip:
                mask = torch.rand(len(idx)) < 0.5
                x = torch.where(mask[:, None, None, None], x.flip(-1), x)
            yield x, self.y[idx]


class RepeatLoader:
    """The same batch ``steps`` times."""

    def __init__(self, x, y, steps):
        self.x, self.y, self.steps = x, y, steps

    def __len__(self):
        return self.steps

    def __iter__(self):
        for _ in range(self.steps):
            yield self.x, self.y


class StubSchedule:
    """The scheduler protocol: lr decays by ``gamma`` per optimizer step, halves per epoch."""

    def __init__(self, optimizer, gamma=0.99):
        self.optimizer, self.gamma = optimizer, gamma
        self.steps = self.epochs = 0
        self.seen = []

    def step_batch(self):
        self.steps += 1
        for g in self.optimizer.param_groups:
            g["lr"] *= self.gamma

    def step_epoch(self, metrics):
        self.epochs += 1
        self.seen.append(dict(metrics))
        for g in self.optimizer.param_groups:
            g["lr"] *= 0.5

    def state_dict(self):
        return {"steps": self.steps, "epochs": self.epochs}

    def load_state_dict(self, state):
        self.steps, self.epochs = state["steps"], state["epochs"]


def random_digits(n=64, num_classes=10, size=32, seed=0):
    """A digits-like dataset: n one-channel images whose class shifts the mean of a patch,
    so a small network can learn it."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % num_classes
    x = 0.5 * torch.randn(n, 1, size, size, generator=g)
    for c in range(num_classes):
        r, col = divmod(c, 4)
        x[y == c, :, 4 + 6 * r : 8 + 6 * r, 4 + 6 * col : 8 + 6 * col] += 2.0
    return x, y


class TwoHeads(nn.Module):
    """forward -> logits; forward_aux -> (logits, (aux1, aux2)), like GoogLeNet."""

    aux_logits = True
    aux_weights = (0.3, 0.3)

    def __init__(self):
        super().__init__()
        self.body = nn.Flatten()
        self.fc, self.aux1, self.aux2 = nn.Linear(16, 3), nn.Linear(16, 3), nn.Linear(16, 3)

    def forward(self, x):
        return self.fc(self.body(x))

    def forward_aux(self, x):
        h = self.body(x)
        return self.fc(h), (self.aux1(h), self.aux2(h))
