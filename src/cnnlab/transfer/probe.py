"""Linear probes: how linearly separable a new dataset is in a pretrained model's features.

For each layer, the features of the training images (:mod:`cnnlab.transfer.features`) are
standardised (per-feature mean and standard deviation of the training features, as
scikit-learn's ``StandardScaler``) and a multinomial logistic regression with an L2 penalty
``C`` is fitted on them by L-BFGS: scikit-learn's ``LogisticRegression(C=C)`` objective,
minimised over the features a chunk at a time so that memory does not grow with the
dataset (:mod:`cnnlab.transfer.logistic`; a test holds it to scikit-learn's solution). Its
accuracy on the test images is the layer's score. This is the lectures' "linear classifier
on top of the CNN features" (DeCAF, Donahue et al. 2014; CNN features off-the-shelf,
Razavian et al. 2014), and with one probe per stage, their "try linear classifiers from
different stages" for datasets unlike the pretraining one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

import torch

from ..data import ImageTensors, dataset_info, load_dataset, match_channels
from ..engine.run import resolve_device, test_split, train_subset
from ..errors import ConfigError
from .features import FeatureCache, LayerFeatures, extract_features, stage_layers
from .logistic import FeatureRows, fit_logistic
from .pretrained import DataPreprocessing, data_preprocessing, load_pretrained


@dataclass
class LayerProbe:
    """One layer's probe: feature dimension, train and test accuracy, L-BFGS iterations
    (``converged`` when below ``max_iter``), seconds to fit and to extract (the pass
    that computed the layer, shared with the layers computed alongside; 0 when cached)."""

    layer: str
    features: int
    train_acc: float
    test_acc: float
    iterations: int
    converged: bool
    extract_seconds: float
    fit_seconds: float
    cached: bool


@dataclass
class ProbeResult:
    """Probes of one model on one dataset, layer by layer in the order asked."""

    source: str
    model: str
    dataset: str
    num_classes: int
    train_images: int
    test_images: int
    pool: str
    C: float
    seed: int
    preprocessing: dict[str, Any]
    layers: list[LayerProbe] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def best(self) -> LayerProbe:
        return max(self.layers, key=attrgetter("test_acc"))


def fit_probe(
    train: LayerFeatures,
    test: LayerFeatures,
    *,
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
    tol: float = 1e-4,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Standardise, fit a multinomial logistic regression on ``train``, score both sets.
    Cached features are read from their files a chunk at a time. ``progress``: a bar over
    the L-BFGS iterations (default: on a terminal). ``seed`` is kept for the record: L-BFGS
    from zero weights draws nothing."""
    del seed
    if not C > 0:
        raise ConfigError(f"C={C!r} must be positive (the inverse L2 strength; 1.0 is scikit-learn's default)")
    start = time.perf_counter()
    with FeatureRows(train.features, train.path) as rows:
        fit = fit_logistic(
            rows, train.labels, C=C, max_iter=max_iter, tol=tol, progress=progress, desc=f"probe {train.layer}"
        )
    with FeatureRows(test.features, test.path) as rows:
        test_acc = fit.score(rows, test.labels)
    return {
        "features": int(rows.shape[1]),
        "train_acc": fit.train_acc,
        "test_acc": test_acc,
        "iterations": fit.iterations,
        "converged": fit.converged,
        "fit_seconds": time.perf_counter() - start,
    }


def load_split(dataset: str, split: str, pre: DataPreprocessing, data_dir: str | None = None) -> Any:
    """One split of ``dataset`` as ``pre`` prescribes: resized and channel-converted."""
    info = dataset_info(dataset)
    kw: dict[str, Any] = {"data_dir": data_dir, "image_size": pre.image_size}
    if info.in_memory:
        kw["resize"] = pre.resize_mode
    return match_channels(load_dataset(dataset, split, **kw), pre.channels)


def linear_probe(
    source: str | Path,
    dataset: str,
    *,
    layers: Sequence[str] | None = None,
    stages: bool = False,
    weights: str | None = None,
    options: Mapping[str, Any] | None = None,
    data_dir: str | None = None,
    train_size: int | None = None,
    seed: int = 0,
    pool: str = "avg",
    C: float = 1.0,
    max_iter: int = 1000,
    batch_size: int = 256,
    device: str | None = None,
    cache_dir: str | Path | None = None,
    cache: bool = True,
    progress: bool | None = None,
) -> ProbeResult:
    """Probe ``source`` (a run, or a model name with ``weights``) on ``dataset``.

    ``layers``: layer names (:func:`~cnnlab.transfer.features.check_layers`); ``stages``:
    one per stage plus ``"head"``; neither: ``"head"`` alone (the top layer's features).
    ``train_size``: fit on that many training images, drawn with ``seed`` exactly as a
    ``dataset.train_size`` training run draws them. Images get the weights' preprocessing
    (:func:`~cnnlab.transfer.pretrained.data_preprocessing`); every split is tested whole.
    Features are cached under ``cache_dir`` (default ``~/.cache/cnnlab/features``) unless
    ``cache=False`` (then they are held in memory). ``progress``: bars for the extraction
    (images/s) and each fit (L-BFGS iterations/s), with the time left (default: on a terminal)."""
    if layers and stages:
        raise ConfigError(f"give layers={list(layers)!r} or stages=True, not both")
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # a random-weights baseline: the same model for the same seed
        pretrained = load_pretrained(source, weights, options)
    model = pretrained.model.to(resolve_device(device))
    wanted = stage_layers(model) if stages else list(layers or ["head"])
    pre = data_preprocessing(model, dataset)
    train = load_split(dataset, "train", pre, data_dir)
    if train_size is not None:
        if not isinstance(train, ImageTensors):
            raise ConfigError(f"train_size={train_size} works on in-memory datasets; {dataset} is read from disk")
        index = train_subset(len(train), train_size, seed)
        train = ImageTensors(train.images[index], train.labels[index], train.info)
    split = test_split(dataset)
    test = load_split(dataset, split, pre, data_dir)
    store = FeatureCache(cache_dir) if cache else None
    common = {"source": pretrained.source, "dataset": dataset, "preprocessing": pre.to_dict()}
    kw = {
        "mean": pre.mean,
        "std": pre.std,
        "pool": pool,
        "batch_size": batch_size,
        "cache": store,
        "progress": progress,
    }
    train_features = extract_features(
        model, train, wanted, about={**common, "split": "train", "train_size": train_size, "seed": seed}, **kw
    )
    test_features = extract_features(model, test, wanted, about={**common, "split": split}, **kw)
    result = ProbeResult(
        pretrained.source,
        pretrained.name,
        dataset,
        train.num_classes,
        len(train),
        len(test),
        pool,
        C,
        seed,
        pre.to_dict(),
    )
    for layer in wanted:
        a, b = train_features[layer], test_features[layer]
        fit = fit_probe(a, b, C=C, max_iter=max_iter, seed=seed, progress=progress)
        result.layers.append(
            LayerProbe(layer=layer, extract_seconds=a.seconds + b.seconds, cached=a.cached and b.cached, **fit)
        )
    result.seconds = time.perf_counter() - started
    return result
