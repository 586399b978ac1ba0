"""DeviceBatches (the device data path) on CPU tensors: what it yields, in which order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.data.batch_augment import BatchAugment
from engine.data.cache import SplitArrays
from engine.data.dataset import PetSegDataset
from engine.data.device_batches import DeviceBatches, resolve_augment_on
from engine.data.transforms import eval_transform

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def arrays() -> SplitArrays:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    trimaps = rng.integers(1, 4, (10, 32, 32), dtype=np.uint8)
    return SplitArrays(images, trimaps, [f"img_{i}" for i in range(10)])


@pytest.mark.parametrize("resident", [False, True])
def test_unaugmented_batches_equal_the_eval_pipeline(arrays: SplitArrays, resident: bool) -> None:
    batches = DeviceBatches(arrays, "pet_only", 4, shuffle=False, device=CPU, seed=0, resident=resident)
    reference = PetSegDataset(arrays, eval_transform(32), "pet_only")
    assert len(batches) == 3  # 4 + 4 + 2
    got = list(batches)
    assert [x.shape[0] for x, _ in got] == [4, 4, 2]
    images = torch.cat([x for x, _ in got])
    masks = torch.cat([m for _, m in got])
    for i in range(10):
        img, mask = reference[i]
        assert torch.allclose(images[i], img, atol=1e-6)
        assert torch.equal(masks[i], mask)


def test_shuffling_is_seeded_and_drop_last_drops(arrays: SplitArrays) -> None:
    def order(seed: int, resident: bool) -> list[int]:
        b = DeviceBatches(arrays, "pet_border", 3, shuffle=True, device=CPU, seed=seed, drop_last=True,
                          resident=resident)
        assert len(b) == 3
        seen = []
        for x, _ in b:
            assert x.shape[0] == 3
            flat = x.flatten(1)
            seen += [int(np.argmin([(flat[j] - ref).abs().sum() for ref in full])) for j in range(3)]
        return seen

    full = torch.cat([x for x, _ in DeviceBatches(arrays, "pet_border", 10, shuffle=False, device=CPU, seed=0)]).flatten(1)
    a = order(1, resident=False)
    assert a == order(1, resident=True)  # the same rows whether the data is gathered or resident
    assert len(set(a)) == 9 and a != sorted(a)
    assert a != order(2, resident=False)


def test_augment_state_round_trip(arrays: SplitArrays) -> None:
    b = DeviceBatches(arrays, "pet_border", 5, shuffle=True, device=CPU, seed=0, augment=BatchAugment(seed=0))
    shuffle, augment = b.generator.get_state(), b.augment_state()
    first = [x for x, _ in b]
    b.generator.set_state(shuffle)
    assert b.set_augment_state(augment)
    assert all(torch.equal(x, y) for x, y in zip(first, [x for x, _ in b]))
    assert not b.set_augment_state(torch.zeros(3, dtype=torch.uint8))  # not a CPU generator's state


def test_auto_is_device_only_on_cuda() -> None:
    assert resolve_augment_on("auto", torch.device("cuda")) == "device"
    assert resolve_augment_on("auto", CPU) == "cpu"
    assert resolve_augment_on("device", CPU) == "device"


def test_the_counted_images_of_three_ranks_shards_are_the_split_once(arrays: SplitArrays) -> None:
    """10 images on 3 data-parallel ranks: 4 draws each (padded, so every rank steps equally);
    what each rank's `counted_images` counts, from the first, is every image exactly once, and the
    padded draws are repeats (an epoch's figures leave them out)."""
    from engine.data.loaders import counted_images
    from engine.train.distributed import DistContext

    full = torch.cat([x for x, _ in DeviceBatches(arrays, "pet_border", 10, shuffle=False, device=CPU, seed=0)]).flatten(1)
    counted, repeats = [], []
    for rank in range(3):
        b = DeviceBatches(arrays, "pet_border", 4, shuffle=True, device=CPU, seed=5,
                          shard=DistContext(rank, rank, 3))
        rows = torch.cat([x for x, _ in b]).flatten(1)
        seen = [int(np.argmin([(row - ref).abs().sum() for ref in full])) for row in rows]
        n = counted_images(b)
        assert len(seen) == 4 and n is not None
        counted += seen[:n]
        repeats += seen[n:]
    assert sorted(counted) == list(range(10))
    assert len(repeats) == 2 and set(repeats) <= set(counted)
