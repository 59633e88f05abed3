"""Datasets in their official on-disk formats, and input pipelines that keep up.

    >>> from cnnlab.data import load_dataset, DeviceLoader, Augment
    >>> train = load_dataset("cifar10", "train", data_dir="~/data")       # official batches
    >>> loader = DeviceLoader(train, 128, train=True, device="cuda",
    ...                       augment=Augment(crop_padding=4, hflip=True))
    >>> for epoch in range(epochs):
    ...     loader.set_epoch(epoch)
    ...     for x, y in loader: ...

``list_datasets()`` names what :func:`load_dataset` reads; ``dataset_info(name)`` gives its
classes, stored size, channel statistics, official files with md5s, URLs and citation.
A name may keep some classes only: ``load_dataset("mnist[5-9]")`` holds the digits 5 to 9,
labelled 0 to 4.
"""

from .augment import Augment
from .catalog import Archive, DatasetInfo, OfficialFile, dataset_info, list_datasets, split_subset
from .channels import LUMA, channel_conversion, match_channels
from .datasets import (
    DatasetLocation,
    FolderImages,
    ImageTensors,
    channel_stats,
    download_dataset,
    image_files,
    load_dataset,
    locate_dataset,
    open_image,
    resize_images,
    select_classes,
)
from .errors import (
    DatasetIntegrityError,
    DatasetNotFoundError,
    DownloadError,
    UnsafePickleError,
)
from .files import RestrictedUnpickler, default_data_root, load_pickle, md5sum, sha256sum
from .idx import read_idx, write_idx
from .loaders import (
    DeviceLoader,
    FolderLoader,
    PCALighting,
    folder_loader,
    folder_transform,
    pipeline_throughput,
)

__all__ = [
    "LUMA",
    "channel_conversion",
    "match_channels",
    "Archive",
    "Augment",
    "DatasetInfo",
    "DatasetIntegrityError",
    "DatasetLocation",
    "DatasetNotFoundError",
    "DeviceLoader",
    "DownloadError",
    "FolderImages",
    "FolderLoader",
    "ImageTensors",
    "OfficialFile",
    "PCALighting",
    "RestrictedUnpickler",
    "UnsafePickleError",
    "channel_stats",
    "dataset_info",
    "default_data_root",
    "download_dataset",
    "image_files",
    "open_image",
    "folder_loader",
    "folder_transform",
    "list_datasets",
    "load_dataset",
    "locate_dataset",
    "load_pickle",
    "md5sum",
    "sha256sum",
    "pipeline_throughput",
    "read_idx",
    "resize_images",
    "select_classes",
    "split_subset",
    "write_idx",
]
