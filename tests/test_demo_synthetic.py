"""SyntheticNuclei: seeded, order-independent, binary non-empty masks, learnable contrast."""

import pytest
import torch

from lightning_carbon.demo.synthetic import SyntheticNuclei


def _all(data):
    return [data[index] for index in range(len(data))]


def test_same_seed_gives_identical_tensors_and_another_seed_differs():
    first, again = _all(SyntheticNuclei(8, size=32, seed=3)), _all(SyntheticNuclei(8, 32, 3))
    other = _all(SyntheticNuclei(8, size=32, seed=4))
    for (image, mask), (image_again, mask_again) in zip(first, again, strict=True):
        assert torch.equal(image, image_again) and torch.equal(mask, mask_again)
    for (image, mask), (other_image, other_mask) in zip(first, other, strict=True):
        assert not torch.equal(image, other_image)
        assert not torch.equal(mask, other_mask)


def test_an_item_does_not_depend_on_access_order_or_data_set_length():
    short = SyntheticNuclei(3, size=32, seed=0)
    long = SyntheticNuclei(100, size=32, seed=0)
    last_first = short[2]
    assert torch.equal(short[0][0], long[0][0])
    assert torch.equal(last_first[0], long[2][0]) and torch.equal(last_first[1], long[2][1])


@pytest.mark.parametrize("size", [8, 16, 64, 96])
def test_images_in_unit_range_and_masks_binary_and_never_empty(size):
    for image, mask in _all(SyntheticNuclei(24, size=size, seed=1)):
        assert image.shape == mask.shape == (1, size, size)
        assert image.dtype == mask.dtype == torch.float32
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        assert mask.sum() > 0


def test_nuclei_are_brighter_than_their_background():
    pairs = _all(SyntheticNuclei(16, size=64, seed=0))
    images, masks = (torch.stack(tensors) for tensors in zip(*pairs, strict=True))
    assert images[masks > 0].mean() > images[masks == 0].mean() + 0.2


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"n_images": 0}, "n_images must be an int >= 1, got 0"),
        ({"n_images": 2.5}, "got 2.5"),
        ({"size": 4}, "size must be an int >= 8, got 4"),
        ({"size": (64, 64)}, "got (64, 64)"),
        ({"seed": -1}, "seed must be an int >= 0, got -1"),
    ],
)
def test_bad_arguments_are_quoted(kwargs, quoted):
    with pytest.raises(ValueError) as error:
        SyntheticNuclei(**kwargs)
    assert quoted in str(error.value)


@pytest.mark.parametrize("index", [2, -1])
def test_out_of_range_index_raises_index_error(index):
    with pytest.raises(IndexError, match=f"index {index} is out of range for 2 images"):
        SyntheticNuclei(2)[index]
