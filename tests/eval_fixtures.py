"""Tiny copies of the six zero-shot test sets, written in each set's REAL on-disk format.

Every image is a flat colour whose red level encodes a sample key (``sample_key``), so that a fake
predictor can return a known prediction for each sample. Each builder returns a :class:`Fixture`
with the dataset folder and, per sample name, the key and the ground truth exactly as stored on disk
(after the format's quantisation), for independent reference computations in the tests.
"""
import dataclasses
import os

import cv2
import h5py
import numpy as np
import scipy.io

GREEN, BLUE = 100, 200


@dataclasses.dataclass
class FixtureSample:
    """key: red-level key of the image; depth: stored ground truth [H, W] (dense sets) or None;
    pairs: DIW annotation (yA, xA, yB, xB, rel, W, H) with 1-based coordinates, or None."""

    key: int
    depth: np.ndarray = None
    pairs: tuple = None


@dataclasses.dataclass
class Fixture:
    root: str
    samples: dict
    options: dict = dataclasses.field(default_factory=dict)


def flat_rgb(key, height, width):
    """uint8 RGB [H, W, 3] of a flat colour whose red level encodes ``key``."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[...] = (20 + 30 * key, GREEN, BLUE)
    return image


def sample_key(rgb):
    """Key of an image read back as float RGB in [0, 1] (robust to JPEG rounding)."""
    return int(round((rgb[..., 0].mean() * 255.0 - 20) / 30))


def _write_image(path, rgb, ext=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ok, data = cv2.imencode(ext or os.path.splitext(path)[1], cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    data.tofile(path)


def _write_png16(path, values):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, values.astype(np.uint16))


def random_depth(rng, height, width, low, high, invalid_fraction=0.2):
    """Depth [H, W] in (low, high) with a random fraction of zeros (invalid)."""
    depth = rng.uniform(low, high, size=(height, width))
    depth[rng.random((height, width)) < invalid_fraction] = 0.0
    return depth


def build_diw(root, rng):
    """DIW_Annotations/DIW_test.csv (path line, then yA,xA,yB,xB,rel,W,H) + DIW_test/<id>.thumb JPEGs."""
    specs = [("a1", (30, 40), (5, 7, 20, 33, ">")), ("b2", (24, 36), (3, 30, 22, 2, "<")),
             ("c3", (40, 30), (40, 30, 1, 1, ">"))]
    lines, samples = [], {}
    for key, (stem, (height, width), (y_a, x_a, y_b, x_b, rel)) in enumerate(specs):
        _write_image(os.path.join(root, "DIW_test", stem + ".thumb"), flat_rgb(key, height, width), ".jpg")
        lines += [f"./DIW_test/{stem}.thumb", f"{y_a},{x_a},{y_b},{x_b},{rel},{width},{height}"]
        samples[f"DIW_test/{stem}.thumb"] = FixtureSample(key, pairs=(y_a, x_a, y_b, x_b, rel, width, height))
    os.makedirs(os.path.join(root, "DIW_Annotations"), exist_ok=True)
    with open(os.path.join(root, "DIW_Annotations", "DIW_test.csv"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    del rng
    return Fixture(root, samples)


def build_eth3d(root, rng):
    """<scene>/images/dslr_images/*.JPG + <scene>/ground_truth_depth/dslr_images/*.JPG (raw float32)."""
    samples = {}
    for key, (scene, name, shape) in enumerate([("courtyard", "DSC_0286.JPG", (16, 24)),
                                                ("courtyard", "DSC_0287.JPG", (16, 24)),
                                                ("pipes", "DSC_0634.JPG", (20, 30))]):
        _write_image(os.path.join(root, scene, "images", "dslr_images", name), flat_rgb(key, *shape), ".jpg")
        depth = random_depth(rng, *shape, 0.5, 90.0).astype(np.float32)
        depth[0, :3] = np.inf
        path = os.path.join(root, scene, "ground_truth_depth", "dslr_images", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        depth.astype("<f4").tofile(path)
        samples[f"{scene}/{name}"] = FixtureSample(key, depth.astype(np.float64))
    return Fixture(root, samples)


def write_dpt(path, depth):
    """Sintel .dpt: float32 tag 202021.25, int32 width, int32 height, float32 data (little-endian)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        np.array([202021.25], dtype="<f4").tofile(handle)
        np.array([depth.shape[1], depth.shape[0]], dtype="<i4").tofile(handle)
        depth.astype("<f4").tofile(handle)


def build_sintel(root, rng):
    """training/final/<scene>/frame_NNNN.png + training/depth/<scene>/frame_NNNN.dpt."""
    samples = {}
    for key, (scene, frame) in enumerate([("alley_1", "frame_0001"), ("alley_1", "frame_0002"),
                                          ("market_2", "frame_0001")]):
        _write_image(os.path.join(root, "final", scene, frame + ".png"), flat_rgb(key, 12, 28))
        depth = rng.uniform(0.5, 100.0, size=(12, 28)).astype(np.float32)
        write_dpt(os.path.join(root, "depth", scene, frame + ".dpt"), depth)
        samples[f"{scene}/{frame}"] = FixtureSample(key, depth.astype(np.float64))
    return Fixture(root, samples)


KITTI_FRAMES = [("2011_09_26_drive_0002_sync", "0000000006", "val"),
                ("2011_09_26_drive_0002_sync", "0000000009", "val"),
                ("2011_10_03_drive_0047_sync", "0000000032", "train")]
KITTI_SIZES = [(375, 1242), (375, 1242), (370, 1226)]   # real raw frames differ in size


def build_kitti(root, rng):
    """<date>/<drive>/image_02/data/<frame>.png + data_depth_annotated/<split>/<drive>/proj_depth/
    groundtruth/image_02/<frame>.png (16-bit, depth*256, 0 invalid, full raw size) + a frame list of these
    frames. Samples hold the ground truth of the 1216x352 window (what the reader returns with crop "kitti")."""
    samples = {}
    for key, ((drive, frame, split), (height, width)) in enumerate(zip(KITTI_FRAMES, KITTI_SIZES)):
        _write_image(os.path.join(root, drive[:10], drive, "image_02", "data", frame + ".png"),
                     flat_rgb(key, height, width))
        stored = np.round(random_depth(rng, height, width, 1.0, 100.0, 0.6) * 256.0)
        _write_png16(os.path.join(root, "data_depth_annotated", split, drive, "proj_depth", "groundtruth",
                                  "image_02", frame + ".png"), stored)
        top, left = height - 352, (width - 1216) // 2
        samples[f"{drive}/{frame}"] = FixtureSample(key, stored[top:, left:left + 1216] / 256.0)
    frame_list = os.path.join(root, "frames.txt")
    with open(frame_list, "w", encoding="utf-8") as handle:
        handle.write("# test frames\n" + "".join(f"{drive} {frame}\n" for drive, frame, _ in KITTI_FRAMES))
    return Fixture(root, samples, {"frame_list": frame_list, "crop": "kitti"})


def write_kitti_selection(root, fixture, frames=None):
    """KITTI's depth-selection layout in ``root/val_selection_cropped`` (image/<drive>_image_<frame>_image_02.png,
    groundtruth_depth/<drive>_groundtruth_depth_<frame>_image_02.png) holding the 1216x352 crops of the raw
    fixture's ``frames`` (default all)."""
    for name in frames or fixture.samples:
        drive, frame = name.split("/")
        truth = fixture.samples[name]
        _write_image(os.path.join(root, "val_selection_cropped", "image", f"{drive}_image_{frame}_image_02.png"),
                     flat_rgb(truth.key, 352, 1216))
        _write_png16(os.path.join(root, "val_selection_cropped", "groundtruth_depth",
                                  f"{drive}_groundtruth_depth_{frame}_image_02.png"), np.round(truth.depth * 256.0))


MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


def build_nyu(root, rng, count=5, test_indices=(2, 4, 5), height=12, width=16):
    """nyu_depth_v2_labeled.mat (MATLAB v7.3/HDF5: images uint8 [N,3,W,H], rawDepths and depths
    single [N,W,H], i.e. MATLAB's column-major arrays as h5py sees them) + splits.mat (v5)."""
    os.makedirs(root, exist_ok=True)
    images = np.stack([flat_rgb(key, height, width).transpose(2, 1, 0) for key in range(count)])
    raw = np.stack([random_depth(rng, height, width, 0.5, 12.0) for _ in range(count)]).astype(np.float32)
    inpainted = np.full_like(raw, 3.0)
    path = os.path.join(root, "nyu_depth_v2_labeled.mat")
    with h5py.File(path, "w", userblock_size=512) as handle:
        for name, data, matlab_class in (("images", images, "uint8"), ("rawDepths", raw.transpose(0, 2, 1), "single"),
                                         ("depths", inpainted.transpose(0, 2, 1), "single")):
            handle.create_dataset(name, data=data).attrs["MATLAB_class"] = np.bytes_(matlab_class)
    with open(path, "r+b") as handle:
        handle.write(MATLAB_HEADER.ljust(116) + b"\x00" * 8 + b"\x00\x02IM" + b"\x00" * (512 - 128))
    train = [i for i in range(1, count + 1) if i not in test_indices]
    scipy.io.savemat(os.path.join(root, "splits.mat"), {"testNdxs": np.array(test_indices, dtype=np.float64)[:, None],
                                                        "trainNdxs": np.array(train, dtype=np.float64)[:, None]})
    samples = {f"{i:04d}": FixtureSample(i - 1, raw[i - 1].astype(np.float64)) for i in test_indices}
    return Fixture(root, samples)


TUM_SEQUENCE = "rgbd_dataset_freiburg2_desk_with_person"
# associate.py semantics: candidates with |dt| < 0.02 s taken greedily by increasing |dt|.
# .000-.010 (.010); .033-.045 (.012; .049 and .015 left over); .080 has no depth within 0.02 s;
# .100-.119 (.019); .215-.210 (.005) is taken first, so .200 loses its nearest depth .210 and stays
# unmatched (.225 is .025 away) although per-frame nearest matching would pair it.
TUM_RGB = ["1311870426.000000", "1311870426.033000", "1311870426.080000", "1311870426.100000",
           "1311870426.200000", "1311870426.215000"]
TUM_DEPTH = ["1311870426.010000", "1311870426.015000", "1311870426.045000", "1311870426.049000",
             "1311870426.119000", "1311870426.210000", "1311870426.225000"]
TUM_PAIRS = [(TUM_RGB[0], TUM_DEPTH[0]), (TUM_RGB[1], TUM_DEPTH[2]), (TUM_RGB[3], TUM_DEPTH[4]),
             (TUM_RGB[5], TUM_DEPTH[5])]


def build_tum(root, rng):
    """<sequence>/rgb.txt, depth.txt (timestamp filename), rgb/<t>.png (8-bit), depth/<t>.png (16-bit, /5000)."""
    folder = os.path.join(root, TUM_SEQUENCE)
    header = "# {} images\n# file: '{}.bag'\n# timestamp filename\n"
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "rgb.txt"), "w", encoding="utf-8") as handle:
        handle.write(header.format("color", TUM_SEQUENCE) + "".join(f"{t} rgb/{t}.png\n" for t in TUM_RGB))
    with open(os.path.join(folder, "depth.txt"), "w", encoding="utf-8") as handle:
        handle.write(header.format("depth", TUM_SEQUENCE) + "".join(f"{t} depth/{t}.png\n" for t in TUM_DEPTH))
    stored = {}
    for key, stamp in enumerate(TUM_RGB):
        _write_image(os.path.join(folder, "rgb", stamp + ".png"), flat_rgb(key, 12, 16))
    for stamp in TUM_DEPTH:
        stored[stamp] = np.round(random_depth(rng, 12, 16, 0.3, 13.0) * 5000.0)
        _write_png16(os.path.join(folder, "depth", stamp + ".png"), stored[stamp])
    samples = {f"{TUM_SEQUENCE}/{rgb}": FixtureSample(TUM_RGB.index(rgb), stored[depth] / 5000.0)
               for rgb, depth in TUM_PAIRS}
    return Fixture(root, samples)


BUILDERS = {"DIW": build_diw, "ETH3D": build_eth3d, "Sintel": build_sintel, "Kitti": build_kitti, "NYU": build_nyu,
            "TUM": build_tum}


def build_all(base, seed=0):
    """Every fixture set under ``base/<set>``; returns {set name: Fixture}."""
    rng = np.random.default_rng(seed)
    return {name: builder(os.path.join(base, name), rng) for name, builder in BUILDERS.items()}


# ------------------------------------------------------------------ metric protocol (eval_with_pngs layouts)
# (date, drive, frame, annotated split or None = no ground truth on disk, (H, W)); real KITTI frames vary in size
KITTI_EIGEN_FRAMES = [("2011_09_26", "2011_09_26_drive_0002_sync", "0000000069", "val", (375, 1242)),
                      ("2011_09_26", "2011_09_26_drive_0002_sync", "0000000070", "val", (375, 1242)),
                      ("2011_10_03", "2011_10_03_drive_0047_sync", "0000000010", "train", (370, 1226)),
                      ("2011_09_28", "2011_09_28_drive_0001_sync", "0000000005", None, (375, 1242))]
KITTI_FOCAL = "721.5377"


def build_kitti_eigen(root, rng):
    """Raw drives <date>/<drive>/image_02/data/<frame>.png + data_depth_annotated/<split>/<drive>/proj_depth/
    groundtruth/image_02/<frame>.png (16-bit, m x 256, 0 = none; LiDAR-like: empty outside the 352x1216 window
    and sparse inside, some beyond 80 m) + an eigen_test_files_with_gt.txt-format list whose last frame has no
    ground truth ("None", and no file). Samples: ``<drive>_<frame>`` -> stored ground truth (metres)."""
    lines, samples = [], {}
    for key, (date, drive, frame, split, (height, width)) in enumerate(KITTI_EIGEN_FRAMES):
        image_rel = f"{date}/{drive}/image_02/data/{frame}.png"
        _write_image(os.path.join(root, image_rel), flat_rgb(key, height, width))
        gt_rel = f"{drive}/proj_depth/groundtruth/image_02/{frame}.png" if split else "None"
        lines.append(f"{image_rel} {gt_rel} {KITTI_FOCAL}\n")
        stored = np.zeros((height, width))
        if split:
            top, left = height - 352, (width - 1216) // 2
            stored[top:, left:left + 1216] = np.round(random_depth(rng, 352, 1216, 1.0, 95.0, 0.75) * 256.0)
            _write_png16(os.path.join(root, "data_depth_annotated", split, gt_rel), stored)
        samples[f"{drive}_{frame}"] = FixtureSample(key, stored / 256.0 if split else None)
    test_list = os.path.join(root, "eigen_test_files_with_gt.txt")
    with open(test_list, "w", encoding="utf-8") as handle:
        handle.write("".join(lines))
    return Fixture(root, samples, {"test_list": test_list})


def merged_kitti_ground_truth(fixture, folder):
    """eval_with_pngs.py takes one ``--gt_path``: ``folder`` gets the train and val drives of the KITTI Eigen
    ``fixture`` side by side (symlinks). Returns ``folder``."""
    os.makedirs(folder)
    for _, drive, _, split, _ in KITTI_EIGEN_FRAMES:
        link = os.path.join(folder, drive)
        if split and not os.path.exists(link):
            os.symlink(os.path.join(fixture.root, "data_depth_annotated", split, drive), link)
    return folder


def write_metric_predictions(folder, fixture, divisor, rng, kb_crop=False):
    """One 16-bit PNG per sample, ``<name>.png``, value = depth x ``divisor``: the ground truth times a random
    factor (0.7-1.4) where it exists, uniform 0.5-100 m elsewhere, some 0 and some beyond the range; with
    ``kb_crop`` only the 352x1216 window. Returns {name: the full-size prediction in metres as written}."""
    os.makedirs(folder, exist_ok=True)
    written = {}
    for name, truth in fixture.samples.items():
        shape = truth.depth.shape if truth.depth is not None else (375, 1242)
        gt = truth.depth if truth.depth is not None else np.zeros(shape)
        depth = np.where(gt > 0, gt * rng.uniform(0.7, 1.4, shape), rng.uniform(0.5, 100.0, shape))
        depth[rng.random(shape) < 0.02] = 0.0
        depth[rng.random(shape) < 0.02] = 150.0
        values = np.clip(np.round(depth * divisor), 0, 65535)
        if kb_crop:
            top, left = shape[0] - 352, (shape[1] - 1216) // 2
            values = values[top:top + 352, left:left + 1216]
        _write_png16(os.path.join(folder, name + ".png"), values)
        written[name] = values / divisor
    return written
