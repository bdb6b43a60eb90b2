"""SegmentationDataModule and split_by_group: deterministic splits, loaders, argument errors."""

import pytest
import torch

from lightning_carbon.demo import SegmentationDataModule, SyntheticNuclei, demo_datamodule
from lightning_carbon.demo.datamodule import split_by_group


def test_split_is_deterministic_disjoint_and_complete():
    train, val, test = split_by_group(range(10), 0.2, 0.1, seed=0)
    assert (len(train), len(val), len(test)) == (7, 2, 1)
    assert sorted(train + val + test) == list(range(10))
    assert split_by_group(range(10), 0.2, 0.1, seed=0) == (train, val, test)
    assert split_by_group(range(10), 0.2, 0.1, seed=1) != (train, val, test)


def test_items_of_one_group_stay_in_one_split():
    groups = ["a", "a", "a", "b", "b", "b", "c", "c", "c", "d", "d"]
    for seed in range(5):
        splits = split_by_group(groups, 0.2, 0.2, seed=seed)
        owners = [{groups[i] for i in split} for split in splits]
        assert not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])
        assert all(owners)


def test_validation_gets_at_least_one_item_and_training_must_keep_one():
    assert split_by_group(range(3), 0.01, 0.0, seed=0)[1] != []
    with pytest.raises(ValueError, match=r"nothing left to train on: 1 group\(s\) of 1 items"):
        split_by_group(range(1), 0.5, 0.0, seed=0)


def test_demo_datamodule_splits_synthetic_data_and_batches_it():
    data = demo_datamodule(n_images=20, size=32, batch_size=4)
    assert isinstance(data.dataset, SyntheticNuclei) and data.dataset.size == 32
    assert (len(data.train_set), len(data.val_set)) == (16, 4)
    assert data.test_set is data.val_set
    images, masks = next(iter(data.train_dataloader()))
    assert images.shape == masks.shape == (4, 1, 32, 32)
    assert [len(batch[0]) for batch in data.val_dataloader()] == [4]


def test_training_order_is_the_same_in_every_run_with_the_seed():
    def first_batch(seed):
        return next(iter(demo_datamodule(n_images=12, size=16, seed=seed).train_dataloader()))[0]

    assert torch.equal(first_batch(0), first_batch(0))
    assert not torch.equal(first_batch(0), first_batch(1))


def test_test_fraction_makes_a_separate_test_split():
    data = SegmentationDataModule(n_images=20, size=16, val_fraction=0.2, test_fraction=0.1)
    assert (len(data.train_set), len(data.val_set), len(data.test_set)) == (14, 4, 2)
    test_items = set(data.test_set.indices)
    assert test_items.isdisjoint(data.val_set.indices)
    assert test_items.isdisjoint(data.train_set.indices)
    assert len(list(data.test_dataloader())) == 1


def test_a_dataset_object_is_used_as_given():
    given = SyntheticNuclei(n_images=5, size=16, seed=9)
    data = SegmentationDataModule(given, val_fraction=0.2)
    assert data.dataset is given and len(data.val_set) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_fraction": 0}, "val_fraction must be a number in (0, 1), got 0"),
        ({"val_fraction": 1.0}, "val_fraction must be a number in (0, 1), got 1.0"),
        ({"test_fraction": -0.1}, "test_fraction must be a number in [0, 1), got -0.1"),
        ({"test_fraction": "0.1"}, "test_fraction must be a number in [0, 1), got '0.1'"),
        ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
        ({"num_workers": -1}, "num_workers must be an int >= 0, got -1"),
        ({"n_images": 0}, "n_images must be an int >= 1, got 0"),
        ({"size": None}, "size must be an int >= 8, got None"),
    ],
)
def test_bad_arguments_are_quoted(kwargs, message):
    with pytest.raises(ValueError) as error:
        SegmentationDataModule("synthetic", **kwargs)
    assert str(error.value) == message


def test_a_name_that_is_neither_synthetic_nor_a_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset 'nuclei' is neither 'synthetic' nor a"):
        SegmentationDataModule("nuclei")
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'absent'}"):
        SegmentationDataModule(tmp_path / "absent")
