"""ImageMaskFolder on real PNG and TIFF files written to tmp_path; errors name the files."""

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from lightning_carbon.demo import ImageMaskFolder, SegmentationDataModule

GRAY = np.array([[10, 20, 30], [40, 50, 60]], dtype=np.uint8)
MASK = np.array([[0, 255, 0], [7, 0, 1]], dtype=np.uint8)


def _png(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def _tif(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array, **kwargs)


def test_png_pair_with_identical_stems_is_scaled_and_binarised(tmp_path):
    _png(tmp_path / "images" / "a.png", GRAY)
    _png(tmp_path / "masks" / "a.png", MASK)
    [(image, mask)] = list(ImageMaskFolder(tmp_path))
    assert image.dtype == mask.dtype == torch.float32 and image.shape == (1, 2, 3)
    assert image.flatten().tolist() == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert mask[0].tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]


def test_tiff_pairs_by_mask_suffix_and_keeps_16_bit_precision(tmp_path):
    _tif(tmp_path / "images" / "slide_1.tif", np.array([[1000, 1001], [1002, 1004]], np.uint16))
    _tif(tmp_path / "masks" / "slide_1_mask.tiff", np.array([[0, 1], [1, 0]], np.uint8))
    data = ImageMaskFolder(tmp_path)
    assert [(i.name, m.name) for i, m in data.pairs] == [("slide_1.tif", "slide_1_mask.tiff")]
    image, mask = data[0]
    assert image.flatten().tolist() == pytest.approx([0.0, 0.25, 0.5, 1.0])
    assert mask[0].tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_rgb_images_become_luma_and_alpha_is_ignored(tmp_path):
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, :, 3] = 255  # opaque everywhere
    rgba[0, 1, :3] = (100, 0, 0)
    rgba[0, 2, :3] = (0, 0, 200)
    _png(tmp_path / "images" / "x.png", rgba, mode="RGBA")
    _png(tmp_path / "masks" / "x.png", rgba, mode="RGBA")
    image, mask = ImageMaskFolder(tmp_path)[0]
    luma = [0.0, 0.299 * 100, 0.114 * 200]
    assert image[0, 0].tolist() == pytest.approx([value / max(luma) for value in luma])
    assert mask[0, 0].tolist() == [0.0, 1.0, 1.0]


def test_channel_first_rgb_tiff_is_read(tmp_path):
    chw = np.zeros((3, 2, 5), np.uint8)
    chw[1, 0, 0] = 50  # green
    _tif(tmp_path / "images" / "c.tif", chw, photometric="rgb", planarconfig="separate")
    _tif(tmp_path / "masks" / "c.tif", chw, photometric="rgb", planarconfig="separate")
    image, mask = ImageMaskFolder(tmp_path)[0]
    assert image.shape == mask.shape == (1, 2, 5)
    assert image.sum().item() == pytest.approx(1.0) and mask.sum().item() == 1.0


def test_palette_png_mask_is_foreground_where_the_index_is_not_black(tmp_path):
    _png(tmp_path / "images" / "p.png", GRAY)
    palette = Image.fromarray(np.array([[0, 1, 0], [2, 0, 0]], np.uint8), mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    (tmp_path / "masks").mkdir()
    palette.save(tmp_path / "masks" / "p.png")
    _, mask = ImageMaskFolder(tmp_path)[0]
    assert mask[0].tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


def test_size_resizes_image_bilinearly_and_mask_to_binary(tmp_path):
    _png(tmp_path / "images" / "a.png", np.tile(GRAY, (4, 4)))
    _png(tmp_path / "masks" / "a_mask.png", np.tile(MASK, (4, 4)))
    image, mask = ImageMaskFolder(tmp_path, size=(4, 6))[0]
    assert image.shape == mask.shape == (1, 4, 6)
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert set(mask.unique().tolist()) == {0.0, 1.0}


def test_custom_folders_and_suffix_pair_and_other_files_are_ignored(tmp_path):
    for stem in ("b", "a"):
        _png(tmp_path / "img" / f"{stem}.png", GRAY)
        _png(tmp_path / "gt" / f"{stem}-label.png", MASK)
    (tmp_path / "img" / "a.xml").write_text("<annotations/>")
    (tmp_path / "gt" / "notes.txt").write_text("ignored")
    data = ImageMaskFolder(tmp_path, image_dir="img", mask_dir="gt", mask_suffix="-label")
    assert [(i.name, m.name) for i, m in data.pairs] == [
        ("a.png", "a-label.png"),
        ("b.png", "b-label.png"),
    ]


def test_unpaired_images_and_masks_are_all_named(tmp_path):
    _png(tmp_path / "images" / "a.png", GRAY)
    _png(tmp_path / "images" / "lonely.png", GRAY)
    _png(tmp_path / "masks" / "a_mask.png", MASK)
    _tif(tmp_path / "masks" / "orphan_mask.tif", MASK)
    with pytest.raises(ValueError) as error:
        ImageMaskFolder(tmp_path)
    message = str(error.value)
    assert "images without a mask: ['lonely.png']" in message
    assert "masks without an image: ['orphan_mask.tif']" in message


@pytest.mark.parametrize("missing", ["images", "masks"])
def test_a_missing_folder_is_named(tmp_path, missing):
    present = "masks" if missing == "images" else "images"
    _png(tmp_path / present / "a.png", GRAY)
    with pytest.raises(FileNotFoundError, match=f"folder not found: {tmp_path / missing}"):
        ImageMaskFolder(tmp_path)


def test_no_images_two_files_for_one_stem_and_size_mismatch_are_named(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(ValueError, match="no .png/.tif/.tiff images in .*images"):
        ImageMaskFolder(tmp_path)
    _png(tmp_path / "images" / "a.png", GRAY)
    _png(tmp_path / "masks" / "a.png", MASK)
    _png(tmp_path / "masks" / "a_mask.png", MASK)
    with pytest.raises(ValueError, match="two files for 'a' in .*masks: a.png, a_mask.png"):
        ImageMaskFolder(tmp_path)
    (tmp_path / "masks" / "a_mask.png").unlink()
    _png(tmp_path / "masks" / "a.png", MASK[:, :2])
    with pytest.raises(ValueError, match="a.png is 2x3 but its mask a.png is 2x2"):
        ImageMaskFolder(tmp_path)[0]


@pytest.mark.parametrize("size", [0, (64,), (64, 0), (64.0, 64), True])
def test_bad_size_is_quoted(tmp_path, size):
    with pytest.raises(ValueError) as error:
        ImageMaskFolder(tmp_path, size=size)
    assert str(error.value) == f"size must be a positive int or (height, width), got {size!r}"


def test_datamodule_reads_a_folder_path_at_the_requested_size(tmp_path):
    for index in range(5):
        _png(tmp_path / "images" / f"{index}.png", np.tile(GRAY + index, (8, 8)))
        _png(tmp_path / "masks" / f"{index}.png", np.tile(MASK, (8, 8)))
    data = SegmentationDataModule(str(tmp_path), batch_size=2, size=8, val_fraction=0.2)
    assert isinstance(data.dataset, ImageMaskFolder)
    assert (len(data.train_set), len(data.val_set)) == (4, 1)
    images, masks = next(iter(data.train_dataloader()))
    assert images.shape == masks.shape == (2, 1, 8, 8)
