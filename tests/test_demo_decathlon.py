"""DecathlonSlices on tiny NIfTI volumes written with nibabel; errors name the files."""

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from lightning_carbon.demo import DecathlonSlices, SegmentationDataModule

SHAPE = (6, 5, 4)  # x, y, z: 4 axial slices of 6 x 5


def _image(value_by_slice=(0, 0, 0, 0)):
    """Half the voxels 0, half 100 (so the 0.5th/99.5th percentiles are 0 and 100)."""
    volume = np.zeros(SHAPE, np.float32)
    volume[3:] = 100.0
    volume[0, 0, :] = value_by_slice
    return volume


def _label(foreground_slices=(1,), value=1):
    label = np.zeros(SHAPE, np.uint8)
    for z in foreground_slices:
        label[2:4, 1:3, z] = value
    return label


def _save(path, volume, affine=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(volume, np.eye(4) if affine is None else affine), path)


def _task(root, volumes, split="training"):
    """Writes ``volumes`` ({name: (image, label)}) and a dataset.json listing them."""
    entries = []
    for name, (image, label) in volumes.items():
        _save(root / "imagesTr" / f"{name}.nii.gz", image)
        _save(root / "labelsTr" / f"{name}.nii.gz", label)
        entries.append({"image": f"./imagesTr/{name}.nii.gz", "label": f"./labelsTr/{name}.nii.gz"})
    manifest = {"name": "Tiny", "labels": {"0": "background", "1": "organ"}, split: entries}
    (root / "dataset.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture
def task(tmp_path):
    volumes = {
        "case_a": (_image((50, 0, 0, 0)), _label(foreground_slices=(1,))),
        "case_b": (_image(), _label(foreground_slices=(0, 3))),
    }
    return _task(tmp_path / "Task99_Tiny", volumes)


def test_every_axial_slice_of_every_listed_volume_is_served(task):
    data = DecathlonSlices(task)
    assert len(data) == 8
    assert data.groups == [0, 0, 0, 0, 1, 1, 1, 1]
    image, mask = data[0]
    assert image.dtype == mask.dtype == torch.float32
    assert image.shape == mask.shape == (1, 6, 5)
    expected = np.zeros((6, 5), np.float32)
    expected[3:] = 1.0
    expected[0, 0] = 0.5  # 50 between the volume's percentiles 0 and 100
    assert torch.equal(image[0], torch.from_numpy(expected))
    assert mask.sum() == 0 and data[1][1].sum() == 4  # slice 1 of case_a holds the organ


def test_foreground_only_keeps_slices_with_label(task):
    data = DecathlonSlices(task, foreground_only=True)
    assert len(data) == 3 and data.groups == [0, 1, 1]
    assert [data[i][1].sum().item() for i in range(3)] == [4.0, 4.0, 4.0]


def test_label_selects_one_value_and_default_takes_every_positive_label(tmp_path):
    label = _label(foreground_slices=(0,), value=1) + _label(foreground_slices=(2,), value=2)
    task = _task(tmp_path, {"c": (_image(), label)})
    assert len(DecathlonSlices(task, foreground_only=True)) == 2
    only_two = DecathlonSlices(task, label=2, foreground_only=True)
    assert len(only_two) == 1 and only_two[0][1].sum() == 4
    assert DecathlonSlices(task, label=2)[0][1].sum() == 0  # slice 0 holds label 1 only
    with pytest.raises(ValueError, match="no slices in .* \\(foreground_only=True\\)"):
        DecathlonSlices(task, label=3, foreground_only=True)
    with pytest.raises(ValueError, match="label must be an int >= 1, got 0"):
        DecathlonSlices(task, label=0)


def test_channel_of_a_4d_image_is_read(tmp_path):
    four_d = np.stack([_image(), _image((25, 25, 25, 25))], axis=-1)
    task = _task(tmp_path, {"multi": (four_d, _label())})
    assert DecathlonSlices(task)[0][0][0, 0, 0] == 0.0
    assert DecathlonSlices(task, channel=1)[0][0][0, 0, 0] == 0.25
    with pytest.raises(ValueError, match="channel 2 is out of range: multi.nii.gz has 2"):
        DecathlonSlices(task, channel=2)


def test_volumes_are_reoriented_so_slices_are_axial(tmp_path):
    """Voxel axis 0 runs inferior-superior here: slices must be taken along it."""
    to_ras = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], float)
    data = np.zeros((3, 6, 5), np.float32)
    data[1] = 100.0
    label = np.zeros((3, 6, 5), np.uint8)
    label[2, 0, 0] = 1
    _save(tmp_path / "imagesTr" / "r.nii.gz", data, to_ras)
    _save(tmp_path / "labelsTr" / "r.nii.gz", label, to_ras)
    entry = {"image": "./imagesTr/r.nii.gz", "label": "./labelsTr/r.nii.gz"}
    (tmp_path / "dataset.json").write_text(json.dumps({"training": [entry]}))
    slices = DecathlonSlices(tmp_path)
    assert len(slices) == 3 and slices[0][0].shape == (1, 6, 5)
    assert [slices[z][0].mean().item() for z in range(3)] == [0.0, 1.0, 0.0]
    assert slices[2][1][0, 0, 0] == 1.0 and slices[2][1].sum() == 1.0


def test_size_resizes_slices(task):
    image, mask = DecathlonSlices(task, size=8)[1]
    assert image.shape == mask.shape == (1, 8, 8)
    assert set(mask.unique().tolist()) == {0.0, 1.0}


def test_slices_stay_correct_when_the_volume_cache_evicts(task):
    data = DecathlonSlices(task, cache_volumes=1)
    first = data[0]
    data[5]  # loads case_b, evicting case_a
    again = data[0]
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(data[4][0], first[0])


def test_missing_folder_manifest_and_listed_files_are_named(tmp_path, task):
    with pytest.raises(FileNotFoundError, match="Decathlon task folder not found: .*Nope"):
        DecathlonSlices(tmp_path / "Nope")
    (tmp_path / "Empty").mkdir()
    with pytest.raises(FileNotFoundError, match="dataset.json not found in .*Empty"):
        DecathlonSlices(tmp_path / "Empty")
    (task / "labelsTr" / "case_b.nii.gz").unlink()
    with pytest.raises(FileNotFoundError) as error:
        DecathlonSlices(task)
    assert "labelsTr/case_b.nii.gz" in str(error.value)
    assert "case_a" not in str(error.value)


def test_a_split_without_labels_or_absent_is_refused(tmp_path, task):
    manifest = json.loads((task / "dataset.json").read_text())
    manifest["test"] = ["./imagesTs/case_c.nii.gz"]
    (task / "dataset.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="'test' entries need an image and a label"):
        DecathlonSlices(task, split="test")
    with pytest.raises(ValueError, match="has no non-empty 'validation' list"):
        DecathlonSlices(task, split="validation")
    (task / "dataset.json").write_text('{"training": [')
    with pytest.raises(ValueError, match="dataset.json is not valid JSON"):
        DecathlonSlices(task)


def test_image_and_label_of_different_shapes_are_named(tmp_path):
    task = _task(tmp_path, {"bad": (_image(), np.zeros((6, 5, 3), np.uint8))})
    with pytest.raises(ValueError, match=r"bad.nii.gz is \(6, 5, 4\) but its label bad.nii.gz"):
        DecathlonSlices(task)


def test_datamodule_reads_a_task_path_and_keeps_each_volume_in_one_split(tmp_path):
    volumes = {f"case_{i}": (_image(), _label()) for i in range(5)}
    task = _task(tmp_path, volumes)
    data = SegmentationDataModule(task, batch_size=4, size=8, val_fraction=0.2, seed=1)
    assert isinstance(data.dataset, DecathlonSlices)
    groups = data.dataset.groups
    train_volumes = {groups[i] for i in data.train_set.indices}
    val_volumes = {groups[i] for i in data.val_set.indices}
    assert len(val_volumes) == 1 and not train_volumes & val_volumes
    assert len(data.train_set) == 16 and len(data.val_set) == 4
    images, masks = next(iter(data.val_dataloader()))
    assert images.shape == masks.shape == (4, 1, 8, 8)
