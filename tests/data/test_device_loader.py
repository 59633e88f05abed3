import pytest
import torch

from cnnlab.data import (
    Augment,
    DeviceLoader,
    ImageTensors,
    dataset_info,
    load_dataset,
    pipeline_throughput,
)
from cnnlab.errors import ConfigError


def _data(n=50, c=1, size=8):
    images = (torch.arange(n * c * size * size) % 256).to(torch.uint8).view(n, c, size, size)
    images[:, 0, 0, 0] = torch.arange(n).to(torch.uint8)  # each image identifiable by its first pixel
    return ImageTensors(images, torch.arange(n) % 10, dataset_info("mnist"))


def _ids(batch_x, loader):
    """The first raw pixel of each image (its id), undoing x = raw * scale - offset."""
    scale, offset = loader._scale.flatten()[0], loader._offset.flatten()[0]
    return ((batch_x[:, 0, 0, 0] + offset) / scale).round().long().tolist()


def test_order_is_a_reproducible_permutation_per_seed_and_epoch():
    data = _data()
    a = DeviceLoader(data, 8, train=True, seed=1)
    b = DeviceLoader(data, 8, train=True, seed=1)
    a.set_epoch(3)
    b.set_epoch(3)
    ya = torch.cat([y for _, y in a])
    assert torch.equal(ya, torch.cat([y for _, y in b]))
    order = a.indices(3)
    assert sorted(order.tolist()) == list(range(50))
    assert torch.equal(ya, data.labels[order])
    assert not torch.equal(order, a.indices(4)) and not torch.equal(
        order, DeviceLoader(data, 8, train=True, seed=2).indices(3)
    )
    assert torch.equal(torch.cat([y for _, y in a]), ya)  # iterating again replays the epoch


def test_resume_mid_epoch_replays_the_remaining_batches():
    data = _data()
    aug = Augment(crop_padding=2)
    full = DeviceLoader(data, 8, train=True, augment=aug, seed=4)
    full.set_epoch(2)
    batches = list(full)
    resumed = DeviceLoader(data, 8, train=True, augment=aug, seed=4)
    resumed.load_state_dict({"epoch": 2, "seed": 4})
    resumed.set_epoch(2, start_batch=3)
    tail = list(resumed)
    assert len(tail) == len(batches) - 3
    assert all(torch.equal(x, bx) and torch.equal(y, by) for (x, y), (bx, by) in zip(tail, batches[3:]))


def test_lengths_and_drop_last():
    data = _data(n=50)
    assert len(DeviceLoader(data, 8, train=True)) == 7
    assert len(DeviceLoader(data, 8, train=True, drop_last=True)) == 6
    assert [len(y) for _, y in DeviceLoader(data, 8, train=False)] == [8] * 6 + [2]


def test_two_ranks_cover_the_data_in_equal_padded_shards():
    data = _data(n=51)
    ranks = [DeviceLoader(data, 4, train=True, seed=7, rank=r, world_size=2) for r in range(2)]
    for r in ranks:
        r.set_epoch(1)
    shards = [r.indices() for r in ranks]
    assert [len(s) for s in shards] == [26, 26] and [len(r) for r in ranks] == [7, 7]
    assert set(torch.cat(shards).tolist()) == set(range(51))  # one index repeated: the wrap-around pad
    # Batch k of both ranks together is batch k of one process with twice the batch size
    # (the last one holds the padding sample too: the first of the epoch's order, again).
    single = DeviceLoader(data, 8, train=True, seed=7)
    single.set_epoch(1)
    pad = single.indices()[0].item()
    batches = list(zip(*ranks, single))
    for k, ((x0, _), (x1, _), (x, _)) in enumerate(batches):
        expected = _ids(x, single) + ([pad] if k == len(batches) - 1 else [])
        assert sorted(_ids(torch.cat([x0, x1]), single)) == sorted(expected)


def test_augmentation_is_the_same_whatever_the_world_size():
    data = _data(n=48)
    aug = Augment(crop_padding=1, hflip=True)
    single = DeviceLoader(data, 8, train=True, augment=aug, seed=3)
    ranks = [DeviceLoader(data, 4, train=True, augment=aug, seed=3, rank=r, world_size=2) for r in range(2)]
    for (x0, _), (x1, _), (x, _) in zip(*ranks, single):
        both = torch.stack([x0, x1], 1).flatten(0, 1)  # interleave ranks: global positions 0, 1, 2, ...
        assert torch.equal(both, x)


def test_augmentation_changes_training_batches_only():
    data = _data(n=32)
    aug = Augment(crop_padding=2, hflip=True)
    plain = torch.cat([x for x, _ in DeviceLoader(data, 32, train=False)])
    evaluated = torch.cat([x for x, _ in DeviceLoader(data, 32, train=False, augment=aug)])
    assert torch.equal(plain, evaluated)  # evaluation never augments
    train = DeviceLoader(data, 32, train=True, augment=aug)
    x, y = next(iter(train))
    assert x.shape == (32, 1, 8, 8) and x.dtype == torch.float32
    un = DeviceLoader(data, 32, train=True)
    x0, y0 = next(iter(un))
    assert torch.equal(y, y0)  # same order with and without augmentation
    changed = (x != x0).flatten(1).any(1)
    assert 0 < changed.sum() <= 32


def test_normalisation():
    data = load_dataset("digits", "test")
    loader = DeviceLoader(data, 100, train=False)
    x, y = next(iter(loader))
    ref = (data.images[:100].float() / 255 - data.info.mean[0]) / data.info.std[0]
    torch.testing.assert_close(x, ref)
    assert torch.equal(y, data.labels[:100])
    x, _ = next(iter(DeviceLoader(data, 100, train=False, mean=0.5, std=1.0)))
    torch.testing.assert_close(x, data.images[:100].float() / 255 - 0.5)
    whole = torch.cat([x for x, _ in DeviceLoader(data, 64, train=False, mean=0.0, std=1.0)])
    assert whole.min() >= 0 and whole.max() <= 1 and len(whole) == len(data)


def test_bad_arguments_name_the_value():
    data = _data()
    with pytest.raises(ConfigError, match="batch_size must be a positive int, got 0"):
        DeviceLoader(data, 0, train=True)
    with pytest.raises(ConfigError, match="rank must be an int in 0..1 for world_size=2, got 2"):
        DeviceLoader(data, 4, train=True, rank=2, world_size=2)
    with pytest.raises(ConfigError, match="mean has 3 values for 1-channel images"):
        DeviceLoader(data, 4, train=True, mean=(0.1, 0.2, 0.3))
    with pytest.raises(ConfigError, match="DeviceLoader takes an ImageTensors"):
        DeviceLoader([1, 2], 4, train=True)


def test_pipeline_throughput_counts_images_per_second():
    loader = DeviceLoader(_data(n=40), 16, train=True, augment=Augment(crop_padding=1))
    rate = pipeline_throughput(loader, batches=10)
    assert rate > 0


def test_channels_last():
    data = ImageTensors(
        torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long), dataset_info("cifar10")
    )
    x, _ = next(iter(DeviceLoader(data, 4, train=False, channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last)
