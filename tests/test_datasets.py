"""Training data: readers, augmentation, sampling/sharding/resume, MindSpore pipelines, error messages."""
import os
from collections import Counter

import cv2
import numpy as np
import pytest

import src  # noqa: F401
from src.data.depth_files import DatasetError
from src.data.pipeline import build_eval_split, build_train_pipeline, load_datasets, pipeline_error_message
from src.data.readers import FolderReader, make_reader, ReDWebReader
from src.data.augment import crop_shape, eval_transform, resize_short_side, sample_rng, train_transform
from src.data.pipeline import TrainSamples
from src.data.samples import DisparitySample
from src.models.cards import IMAGENET_MEAN, IMAGENET_STD
from src.data.sampling import TrainSchedule, split_indices
from src.fileio.images import write_pfm

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

NORM = (IMAGENET_MEAN, IMAGENET_STD)


def make_pipeline(dataset_cfgs, batch_size, crop_size=384, val_fraction=0.0, **options):
    """build_train_pipeline on the datasets of ``dataset_cfgs`` (ImageNet normalisation)."""
    return build_train_pipeline(load_datasets(dataset_cfgs, val_fraction), batch_size, crop_size, NORM, **options)


def eval_split(dataset_cfgs, batch_size, crop_size, val_fraction):
    """build_eval_split on the datasets of ``dataset_cfgs`` (ImageNet normalisation)."""
    return build_eval_split(load_datasets(dataset_cfgs, val_fraction), batch_size, crop_size, NORM)


def _write_png(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ok, encoded = cv2.imencode(".png", array)
    assert ok
    encoded.tofile(path)


def _folder_dataset(root, depths, ext=".npy", rgb=None):
    """images/<stem>.png (gray 100 or ``rgb``) + depth/<stem><ext> for {stem: depth array}."""
    for stem, depth in depths.items():
        image = rgb if rgb is not None else np.full(depth.shape[:2] + (3,), 100, np.uint8)
        _write_png(os.path.join(root, "images", stem + ".png"), image)
        path = os.path.join(root, "depth", stem + ext)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if ext == ".npy":
            np.save(path, depth)
        elif ext == ".pfm":
            write_pfm(path, depth)
        else:
            _write_png(path, depth)
    return str(root)


def _redweb_dataset(root, count, shape=(20, 30), seed=0):
    rng = np.random.default_rng(seed)
    for index in range(count):
        _write_png(os.path.join(root, "Imgs", f"{index:03d}.png"), rng.integers(0, 256, shape + (3,), dtype=np.uint8))
        _write_png(os.path.join(root, "RDs", f"{index:03d}.png"), rng.integers(0, 256, shape, dtype=np.uint8))
    return str(root)


# ------------------------------------------------------------------------------------------------ readers

DEPTH = np.array([[1.0, 2.0, 4.0], [0.0, np.inf, 2.0]])
# valid: finite and > 0; disparity 1/d = [1, .5, .25, -, -, .5] -> (x - .25) / .75
EXPECTED_DISP = np.array([[1.0, 1 / 3, 0.0], [0.0, 0.0, 1 / 3]], dtype=np.float32)
EXPECTED_MASK = np.array([[True, True, True], [False, False, True]])


@pytest.mark.parametrize("ext", [".npy", ".pfm"])
def test_folder_metric_depth_float_files(tmp_path, ext):
    reader = FolderReader(_folder_dataset(tmp_path, {"a": DEPTH.astype(np.float32)}, ext))
    sample = reader[0]
    np.testing.assert_array_equal(sample.mask, EXPECTED_MASK)
    np.testing.assert_allclose(sample.disparity, EXPECTED_DISP, atol=1e-6)
    assert sample.disparity.dtype == np.float32 and sample.image.dtype == np.float32
    np.testing.assert_allclose(sample.image, 100 / 255, atol=1e-7)


def test_folder_png16_scale_and_8bit_png(tmp_path):
    depth16 = (np.array([[1.0, 2.0, 4.0], [0.0, 0.0, 2.0]]) * 256).astype(np.uint16)
    sample = FolderReader(_folder_dataset(tmp_path / "k", {"a": depth16}, ".png"), png_scale=256)[0]
    expected_mask = np.array([[True, True, True], [False, False, True]])
    np.testing.assert_array_equal(sample.mask, expected_mask)
    np.testing.assert_allclose(sample.disparity, EXPECTED_DISP, atol=1e-6)
    depth8 = np.array([[10, 20], [40, 0]], np.uint8)  # up-to-scale: scale does not matter after normalisation
    sample = FolderReader(_folder_dataset(tmp_path / "e", {"a": depth8}, ".png"), kind="up_to_scale")[0]
    np.testing.assert_allclose(sample.disparity, [[1.0, 1 / 3], [0.0, 0.0]], atol=1e-6)


def test_folder_disparity_shift_invariant_keeps_negative_values(tmp_path):
    disparity = np.array([[-2.0, 0.0], [2.0, np.nan]], np.float32)
    reader = FolderReader(_folder_dataset(tmp_path, {"a": disparity}), values="disparity", kind="up_to_scale_and_shift")
    sample = reader[0]
    np.testing.assert_array_equal(sample.mask, [[True, True], [True, False]])
    np.testing.assert_allclose(sample.disparity, [[0.0, 0.5], [1.0, 0.0]])
    metric = FolderReader(_folder_dataset(tmp_path / "m", {"a": disparity}), values="disparity")[0]
    np.testing.assert_array_equal(metric.mask, [[False, False], [True, False]])  # 0 = no measurement


def test_folder_mask_file_and_constant_map(tmp_path):
    root = _folder_dataset(tmp_path, {"a": np.full((2, 3), 5.0, np.float32)})
    _write_png(os.path.join(root, "mask", "a.png"), np.array([[255, 0, 1], [0, 0, 7]], np.uint8))
    sample = FolderReader(root)[0]
    np.testing.assert_array_equal(sample.mask, [[True, False, True], [False, False, True]])
    assert np.all(sample.disparity == 0) and np.isfinite(sample.disparity).all()


def test_depth_known_up_to_shift_is_refused(tmp_path):
    root = _folder_dataset(tmp_path, {"a": DEPTH})
    with pytest.raises(DatasetError, match="up to scale and shift"):
        FolderReader(root, values="depth", kind="up_to_scale_and_shift")


@pytest.mark.parametrize("dtype,maximum", [(np.uint8, 255), (np.uint16, 65535)])
def test_redweb_polarity_and_bit_depth(tmp_path, dtype, maximum):
    relative = np.array([[0, maximum // 2], [maximum, maximum // 4]], dtype)
    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 2] = 200  # BGR on disk: red
    _write_png(os.path.join(tmp_path, "RDs", "x.png"), relative)
    os.makedirs(os.path.join(tmp_path, "Imgs"))
    cv2.imencode(".jpg", image)[1].tofile(os.path.join(tmp_path, "Imgs", "x.jpg"))
    scaled = relative.astype(np.float64) / maximum
    near = ReDWebReader(str(tmp_path))[0]
    np.testing.assert_allclose(near.disparity, scaled, atol=1e-6)
    assert near.mask.all()
    assert near.image[0, 0, 0] > 0.7 and near.image[0, 0, 2] < 0.1  # RGB order
    far = ReDWebReader(str(tmp_path), larger_is_nearer=False)[0]
    np.testing.assert_allclose(far.disparity, 1.0 - scaled, atol=1e-6)


def test_redweb_gray_saved_as_rgb_is_accepted_colour_map_is_not(tmp_path):
    root = _redweb_dataset(tmp_path, 1, (4, 5))
    rd_path = os.path.join(root, "RDs", "000.png")
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    _write_png(rd_path, np.repeat(gray[..., None], 3, axis=2))
    np.testing.assert_allclose(ReDWebReader(root)[0].disparity, gray / 190.0, atol=1e-6)
    colour = np.stack([gray, gray[::-1], gray], axis=2)
    _write_png(rd_path, colour)
    with pytest.raises(DatasetError, match=rd_path.replace("\\", "\\\\")):
        ReDWebReader(root)[0]


# ------------------------------------------------------------------------------------------------ errors

def _error(func):
    with pytest.raises(DatasetError) as info:
        func()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_errors_name_the_file(tmp_path):
    missing = str(tmp_path / "nowhere")
    assert missing in _error(lambda: FolderReader(missing))
    assert missing in _error(lambda: ReDWebReader(missing))
    empty = tmp_path / "empty"
    os.makedirs(empty / "images")
    os.makedirs(empty / "depth")
    assert str(empty / "images") in _error(lambda: FolderReader(str(empty))) and "empty" in _error(
        lambda: FolderReader(str(empty)))

    root = _folder_dataset(tmp_path / "d", {"a": DEPTH, "b": DEPTH})
    os.remove(os.path.join(root, "depth", "b.npy"))
    assert os.path.join(root, "images", "b.png") in _error(lambda: FolderReader(root))

    root = _folder_dataset(tmp_path / "c", {"a": DEPTH})
    with open(os.path.join(root, "images", "a.png"), "wb") as handle:
        handle.write(b"not an image")
    assert os.path.join(root, "images", "a.png") in _error(lambda: FolderReader(root)[0])

    for ext, junk in ((".npy", b"junk"), (".pfm", b"P6\n1 1\n"), (".png", b"\x89PNG broken")):
        root = _folder_dataset(tmp_path / ("bad" + ext[1:]), {"a": np.ones((2, 3), np.uint16)}, ext)
        with open(os.path.join(root, "depth", "a" + ext), "wb") as handle:
            handle.write(junk)
        assert os.path.join(root, "depth", "a" + ext) in _error(lambda: FolderReader(root)[0])

    root = _folder_dataset(tmp_path / "size", {"a": DEPTH}, rgb=np.zeros((5, 5, 3), np.uint8))
    message = _error(lambda: FolderReader(root)[0])
    assert os.path.join(root, "depth", "a.npy") in message and "differs" in message

    root = _folder_dataset(tmp_path / "masksize", {"a": DEPTH})
    _write_png(os.path.join(root, "mask", "a.png"), np.ones((4, 4), np.uint8))
    assert os.path.join(root, "mask", "a.png") in _error(lambda: FolderReader(root)[0])

    root = _redweb_dataset(tmp_path / "rw", 2)
    os.remove(os.path.join(root, "RDs", "001.png"))
    assert os.path.join(root, "Imgs", "001.png") in _error(lambda: ReDWebReader(root))


def test_config_errors(tmp_path):
    root = _redweb_dataset(tmp_path, 3)
    assert "colour" in _error(lambda: make_reader({"format": "redweb", "path": root, "colour": 1}))
    assert "format" in _error(lambda: make_reader({"format": "no_such_format", "path": root}))
    assert "multiple" in _error(lambda: make_pipeline(
        [{"format": "redweb", "path": root}, {"format": "redweb", "path": root}], batch_size=3, crop_size=8))
    assert "fewer" in _error(lambda: make_pipeline([{"format": "redweb", "path": root}], batch_size=4,
                                                          crop_size=8))
    assert "start_step" in _error(lambda: make_pipeline([{"format": "redweb", "path": root}], batch_size=1,
                                                               crop_size=8, start_step=3))


def test_corrupt_file_inside_pipeline_gives_one_line(tmp_path):
    root = _redweb_dataset(tmp_path, 2)
    bad = os.path.join(root, "Imgs", "001.png")
    with open(bad, "wb") as handle:
        handle.write(b"garbage")
    pipeline = make_pipeline([{"format": "redweb", "path": root}], batch_size=2, crop_size=8)
    with pytest.raises(RuntimeError) as info:
        list(pipeline.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True))
    assert pipeline_error_message(info.value) == f"{bad}: not a readable image (corrupt or unsupported format)"


# ------------------------------------------------------------------------------------------------ augmentation

def _coded_sample(height, width):
    """Disparity and every image channel hold the pixel code y * width + x (scaled into [0, 1])."""
    code = (np.arange(height * width, dtype=np.float32).reshape(height, width)) / (height * width)
    return DisparitySample(np.repeat(code[..., None], 3, axis=2), code.copy(), np.ones((height, width), bool))


def test_resize_short_side_keeps_aspect():
    for (height, width), (out_h, out_w) in {(30, 50): (20, 33), (50, 30): (33, 20), (20, 20): (20, 20),
                                             (10, 41): (20, 82)}.items():
        image, disparity, mask = resize_short_side(_coded_sample(height, width), 20)
        assert image.shape == (out_h, out_w, 3) and disparity.shape == mask.shape == (out_h, out_w)


def test_crop_and_flip_move_image_and_targets_together():
    height, width, size = 12, 17, 12
    sample = _coded_sample(height, width)
    flips = []
    for position in range(24):
        image, disparity, mask = train_transform(sample, size, sample_rng(3, 0, position), NORM)
        assert image.shape == (3, size, size) and disparity.shape == mask.shape == (size, size)
        assert image.dtype == disparity.dtype == mask.dtype == np.float32
        codes = np.round(disparity * height * width).astype(int)
        rows, cols = codes // width, codes % width
        np.testing.assert_array_equal(rows, np.broadcast_to(np.arange(size)[:, None] + rows[0, 0], (size, size)))
        step = cols[0, 1] - cols[0, 0]
        assert step in (1, -1)
        np.testing.assert_array_equal(cols, cols[:, :1] + step * np.arange(size)[None, :])
        flips.append(step == -1)
        for channel in range(3):  # ImageNet-normalised image shows the same pixels as the targets
            np.testing.assert_allclose(image[channel] * STD[channel] + MEAN[channel], disparity, atol=1e-6)
        assert np.all(mask == 1.0)
    assert 0 < sum(flips) < len(flips)


def test_nearest_targets_keep_original_values_and_determinism():
    rng = np.random.default_rng(0)
    values = np.array([0.0, 0.25, 0.5, 1.0], np.float32)
    disparity = rng.choice(values, (37, 53)).astype(np.float32)
    mask = rng.random((37, 53)) > 0.3
    sample = DisparitySample(rng.random((37, 53, 3)).astype(np.float32), disparity, mask)
    first = train_transform(sample, 24, sample_rng(1, 2, 5), NORM)
    assert set(np.unique(first[1])) <= set(values.tolist())
    assert set(np.unique(first[2])) <= {0.0, 1.0}
    again = train_transform(sample, 24, sample_rng(1, 2, 5), NORM)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    others = [train_transform(sample, 24, sample_rng(1, 2, p), NORM)[1] for p in range(6, 12)]
    assert any(not np.array_equal(first[1], other) for other in others)


def test_eval_transform_is_centre_crop():
    image, disparity, mask = eval_transform(_coded_sample(10, 16), 10, NORM)
    codes = np.round(disparity * 160).astype(int)
    np.testing.assert_array_equal(codes, np.arange(160).reshape(10, 16)[:, 3:13])


def test_crop_size_syntax():
    assert crop_shape(384) == crop_shape("384") == (384, 384)
    assert crop_shape("640,192") == (192, 640)  # W,H: KITTI's reduced 640 wide x 192 high
    for bad in ("640x192", "0", "64,", "a,b", "1,2,3", "-8,16"):
        with pytest.raises(ValueError, match=f"--crop_size must be S or W,H .*got '{bad}'"):
            crop_shape(bad)


def test_non_square_crop_covers_then_crops():
    # resize to the smallest size covering W,H = 20,8 (aspect kept), then the crop; eval takes the centre
    for (height, width), (out_h, out_w) in {(30, 50): (12, 20), (10, 40): (8, 32), (8, 20): (8, 20)}.items():
        _, disparity, _ = resize_short_side(_coded_sample(height, width), (8, 20))
        assert disparity.shape == (out_h, out_w)
    image, disparity, mask = train_transform(_coded_sample(10, 40), "20,8", sample_rng(0, 0, 0), NORM)
    assert image.shape == (3, 8, 20) and disparity.shape == mask.shape == (8, 20)
    _, disparity, _ = eval_transform(_coded_sample(8, 30), "20,8", NORM)
    codes = np.round(disparity * 240).astype(int)
    np.testing.assert_array_equal(codes, np.arange(240).reshape(8, 30)[:, 5:25])


# ------------------------------------------------------------------------------------------------ sampling

def test_split_is_fixed_disjoint_and_complete():
    train, val = split_indices(40, 0.25)
    assert len(val) == 10 and sorted(train + val) == list(range(40))
    assert split_indices(40, 0.25) == (train, val)


def test_schedule_epochs_are_permutations_and_reshuffled():
    schedule = TrainSchedule([10], batch_size=3)
    assert schedule.steps_per_epoch == 3
    epoch = [[schedule.locate(step, slot)[1] for step in range(e * 3, e * 3 + 3) for slot in range(3)]
             for e in range(2)]
    assert all(len(set(indices)) == 9 for indices in epoch)
    assert epoch[0] != epoch[1]
    assert TrainSchedule([10], 3, seed=1).permutation(0, 0).tolist() != schedule.permutation(0, 0).tolist()


def test_naive_mixing_equal_shares_and_union_over_ranks():
    sizes = [23, 9]
    single = TrainSchedule(sizes, batch_size=8, seed=4)
    ranks = [TrainSchedule(sizes, batch_size=4, seed=4, rank=r, rank_size=2) for r in range(2)]
    assert single.steps_per_epoch == ranks[0].steps_per_epoch == 5
    for step in range(12):  # crosses passes of the small dataset
        full = [single.locate(step, slot) for slot in range(8)]
        assert [d for d, _, _ in full] == [0, 0, 0, 0, 1, 1, 1, 1]
        split = [ranks[r].locate(step, slot) for r in range(2) for slot in range(4)]
        assert [d for d, _, _ in split[:4]] == [0, 0, 1, 1]
        assert Counter(full) == Counter(split)


# ------------------------------------------------------------------------------------------------ pipelines

@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    base = tmp_path_factory.mktemp("mix")
    redweb = _redweb_dataset(base / "rw", 12, (20, 26), seed=1)
    rng = np.random.default_rng(2)
    folder = _folder_dataset(base / "fd", {f"s{i}": rng.uniform(1, 5, (18, 24)).astype(np.float32)
                                           for i in range(7)}, rgb=rng.integers(0, 256, (18, 24, 3), dtype=np.uint8))
    return [{"name": "rw", "format": "redweb", "path": redweb}, {"name": "fd", "format": "folder", "path": folder}]


def _batches(dataset):
    return [{k: v for k, v in batch.items()} for batch in dataset.create_dict_iterator(num_epochs=1, output_numpy=True)]


def test_pipeline_columns_and_mixing(two_datasets):
    pipeline = make_pipeline(two_datasets, batch_size=4, crop_size=16, seed=0, epochs=2, num_workers=2)
    assert pipeline.dataset_names == ["rw", "fd"] and pipeline.steps_per_epoch == 6
    batches = _batches(pipeline.dataset)
    assert len(batches) == 12
    for batch in batches:
        assert batch["image"].shape == (4, 3, 16, 16) and batch["image"].dtype == np.float32
        assert batch["disparity"].shape == batch["mask"].shape == (4, 16, 16)
        assert batch["disparity"].dtype == batch["mask"].dtype == np.float32
        assert batch["dataset_id"].dtype == np.int32 and batch["dataset_id"].tolist() == [0, 0, 1, 1]
        assert set(np.unique(batch["mask"])) <= {0.0, 1.0}
        assert batch["disparity"].min() >= 0 and batch["disparity"].max() <= 1


def _sample_key(image):
    return image.tobytes()


def test_rank_union_and_resume(two_datasets):
    kwargs = dict(crop_size=8, seed=7, epochs=2, val_fraction=0.2)
    full = _batches(make_pipeline(two_datasets, batch_size=4, **kwargs).dataset)
    shards = [_batches(make_pipeline(two_datasets, batch_size=2, rank=r, rank_size=2, **kwargs).dataset)
              for r in range(2)]
    assert len(full) == len(shards[0]) == len(shards[1]) > 0
    for step, batch in enumerate(full):
        union = [(int(b["dataset_id"][i]), _sample_key(b["image"][i]), _sample_key(b["disparity"][i]))
                 for b in (shards[0][step], shards[1][step]) for i in range(2)]
        whole = [(int(batch["dataset_id"][i]), _sample_key(batch["image"][i]), _sample_key(batch["disparity"][i]))
                 for i in range(4)]
        assert Counter(union) == Counter(whole)
    resumed = _batches(make_pipeline(two_datasets, batch_size=4, start_step=3, num_workers=2, **kwargs).dataset)
    assert len(resumed) == len(full) - 3
    for a, b in zip(full[3:], resumed):
        for column in a:
            np.testing.assert_array_equal(a[column], b[column])


def test_eval_split_matches_held_out_samples(two_datasets, tmp_path):
    splits = load_datasets(two_datasets, val_fraction=0.3)
    assert [len(s.val_indices) for s in splits] == [4, 2]
    for split in splits:
        assert not set(split.train_indices) & set(split.val_indices)
    dataset = eval_split(two_datasets, batch_size=4, crop_size=16, val_fraction=0.3)
    batches = _batches(dataset)
    ids = np.concatenate([b["dataset_id"] for b in batches]).tolist()
    assert ids == [0, 0, 0, 0, 1, 1]
    first = eval_transform(splits[0].val_reader[splits[0].val_indices[0]], 16, NORM)
    np.testing.assert_array_equal(batches[0]["image"][0], first[0])
    assert eval_split(two_datasets, batch_size=4, crop_size=16, val_fraction=0.0) is None
    separate = dict(two_datasets[1], val_path=_folder_dataset(tmp_path, {"z": np.ones((18, 24), np.float32)}))
    splits = load_datasets([separate], val_fraction=0.3)
    assert len(splits[0].train_indices) == 7 and splits[0].val_reader.stems == ["z"]


def test_train_samples_without_mindspore_match_pipeline(two_datasets):
    splits = load_datasets(two_datasets)
    schedule = TrainSchedule([len(s.train_indices) for s in splits], 4, seed=0)
    source = TrainSamples(splits, schedule, 16, NORM, start_step=0, num_steps=1)
    batch = _batches(make_pipeline(two_datasets, batch_size=4, crop_size=16, seed=0).dataset)[0]
    for slot in range(4):
        np.testing.assert_array_equal(source[slot][1], batch["disparity"][slot])


def test_npy_depth_reads_are_thread_safe(tmp_path):
    """np.load parses .npy headers with ast, which CPython 3.11 does not make thread-safe; many threads
    reading at once raised "SystemError: AST constructor recursion depth mismatch" without the lock."""
    from concurrent.futures import ThreadPoolExecutor  # pylint: disable=import-outside-toplevel
    from src.data.depth_files import read_depth_values  # pylint: disable=import-outside-toplevel
    paths = []
    for index in range(16):
        path = str(tmp_path / f"{index}.npy")
        np.save(path, np.full((4, 5), float(index), np.float32))
        paths.append(path)
    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(30):
            values = list(pool.map(read_depth_values, paths * 8))
            assert [float(v[0, 0]) for v in values] == [float(i) for i in range(16)] * 8


def test_non_square_crop_through_train_and_eval_pipelines(two_datasets):
    """crop_size (16, 24) (--crop_size 24,16 after crop_shape): every batch column is 16 high, 24 wide."""
    crop = crop_shape("24,16")
    train = _batches(make_pipeline(two_datasets, batch_size=2, crop_size=crop, seed=0, val_fraction=0.3).dataset)
    held_out = _batches(eval_split(two_datasets, batch_size=2, crop_size=crop, val_fraction=0.3))
    for batch in train[:2] + held_out:
        assert batch["image"].shape == (2, 3, 16, 24) and batch["disparity"].shape == batch["mask"].shape == (2, 16, 24)
