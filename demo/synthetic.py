"""Procedural RGB-D scenes with exactly known depth, ray cast in NumPy (demos and tests, no downloads).

A pinhole camera at the world origin (x right, y up, z forward), ``height`` metres above a textured
ground plane and pitched down by ``pitch``, looks at an infinitely tall back wall at ``z = wall_z``,
optional side walls, and boxes and spheres resting on the ground. Lambertian shading with a
directional light, cast shadows, light fog and sensor noise give perspective, occlusion and shading
cues. Depth is the camera-frame z (planar depth, metres) of the first surface hit by each pixel's
ray: camera-frame ray directions are (u, v, 1), so the ray parameter t is the depth itself.

Datasets are written in the ReDWeb layout (``Imgs/<stem>.jpg`` + ``RDs/<stem>.png``: 16-bit
min-max normalised disparity, larger = nearer), the generic folder layout (``images/<stem>.jpg``
+ ``depth/<stem>.npy``: exact float32 depth in metres) and/or the stereo layout: a rectified pair, the right
camera ``baseline`` metres to the right of the left one (same orientation), ``left/<stem>.png`` +
``right/<stem>.png`` + ``disparity/<stem>.npy`` (the left view's exact disparity in pixels, focal x baseline /
depth). Scene i depends only on (seed, i).
"""
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import List, Tuple

import cv2
import numpy as np
from tqdm import tqdm

_logger = logging.getLogger(__name__)

LAYOUTS = ("redweb", "folder", "stereo")
STEREO_BASELINE = 0.3  # metres between the cameras of a synthetic stereo pair
_SURFACE_EPS = 1e-6
_REMAP_BLOCK = 1024
_NOISE_STD = 0.01  # sensor noise added to the rendered image


@dataclass(frozen=True)
class Camera:
    """Pinhole camera at the origin: focal length (pixels), height above the ground (m), pitch down (rad)."""
    focal: float
    height: float
    pitch: float

    def rotation(self):
        """Camera-to-world rotation (a pitch about the x axis; positive pitch looks down)."""
        cos, sin = np.cos(self.pitch), np.sin(self.pitch)
        return np.array([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])

    def rays(self, rows, cols):
        """World ray directions [rows, cols, 3] through the pixel centres; their camera-frame z is 1."""
        u = (np.arange(cols) + 0.5 - cols / 2) / self.focal
        v = -(np.arange(rows) + 0.5 - rows / 2) / self.focal
        cam = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((rows, cols))), axis=-1)
        return cam @ self.rotation().T


@dataclass(frozen=True)
class Sphere:
    center: Tuple[float, float, float]
    radius: float
    albedo: Tuple[float, float, float]


@dataclass(frozen=True)
class Box:
    """Box with half sizes ``half`` (x, y, z), rotated by ``yaw`` (rad) about the vertical axis."""
    center: Tuple[float, float, float]
    half: Tuple[float, float, float]
    yaw: float
    albedo: Tuple[float, float, float]

    def rotation(self):
        cos, sin = np.cos(self.yaw), np.sin(self.yaw)
        return np.array([[cos, 0.0, sin], [0.0, 1.0, 0.0], [-sin, 0.0, cos]])


@dataclass(frozen=True)
class Plane:
    """Plane ``point . normal == offset`` with a texture tiled every ``tile`` metres along axes ``uv_axes``."""
    normal: Tuple[float, float, float]
    offset: float
    texture: np.ndarray = field(compare=False)
    tile: float
    uv_axes: Tuple[int, int]


@dataclass(frozen=True)
class Scene:
    camera: Camera
    planes: List[Plane]
    spheres: List[Sphere]
    boxes: List[Box]
    light: Tuple[float, float, float]  # unit vector towards the light
    ambient: float
    fog_density: float  # per metre
    fog_color: Tuple[float, float, float]


def _dot(x, y):
    """Row-wise dot product of vectors [3] or [N, 3] (one of them may be a single vector)."""
    if x.ndim == 1 or y.ndim == 1:
        return x @ y if y.ndim == 1 else y @ x
    return np.einsum("ij,ij->i", x, y)


def hit_plane(origins, dirs, plane):
    """Ray parameter t of the hit with a plane (inf where missed or behind).

    ``origins`` and ``dirs`` are [N, 3] or a single [3] vector each (all functions ``hit_*`` alike).
    """
    normal = np.asarray(plane.normal)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (plane.offset - origins @ normal) / (dirs @ normal)
    return np.where((t > _SURFACE_EPS) & np.isfinite(t), t, np.inf)


def hit_sphere(origins, dirs, sphere):
    """Ray parameter t of the first hit with a sphere from outside (inf where missed)."""
    oc = origins - np.asarray(sphere.center, dtype=dirs.dtype)
    a, b, c = _dot(dirs, dirs), _dot(dirs, oc), _dot(oc, oc) - sphere.radius ** 2
    disc = b * b - a * c
    near = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    return np.where((disc >= 0) & (near > _SURFACE_EPS), near, np.inf)


def hit_box(origins, dirs, box):
    """Ray parameter t of the first hit with a yawed box from outside (inf where missed).

    Only rays that can reach the bounding sphere are traced, with the slab method in box coordinates.
    """
    center, half = np.asarray(box.center, dtype=dirs.dtype), np.asarray(box.half, dtype=dirs.dtype)
    oc = origins - center
    a, b, c = _dot(dirs, dirs), _dot(dirs, oc), _dot(oc, oc) - float(half @ half)
    reachable = (b * b >= a * c) & ((b < 0) | (c < 0))  # real roots, not both behind the origin
    count = max(len(origins) if origins.ndim == 2 else 1, len(dirs) if dirs.ndim == 2 else 1)
    candidates = np.flatnonzero(np.broadcast_to(reachable, (count,)))
    rot = box.rotation().astype(dirs.dtype)
    local_o = ((oc[candidates] if oc.ndim == 2 else oc[None]) @ rot).T
    local_d = ((dirs[candidates] if dirs.ndim == 2 else dirs[None]) @ rot).T
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (-half[:, None] - local_o) / local_d, (half[:, None] - local_o) / local_d
    low, high = np.fmin(t1, t2), np.fmax(t1, t2)
    t_near = np.fmax(np.fmax(low[0], low[1]), low[2])
    t_far = np.fmin(np.fmin(high[0], high[1]), high[2])
    t = np.full(count, np.inf, dtype=dirs.dtype)
    t[candidates] = np.where((t_near <= t_far) & (t_near > _SURFACE_EPS), t_near, np.inf)
    return t


def _box_normals(points, box):
    """Outward normals of box surface points [N, 3] (face whose slab the point is closest to)."""
    rot = box.rotation()
    local = (points - np.asarray(box.center)) @ rot / np.asarray(box.half)
    axis = np.argmax(np.abs(local), axis=1)
    normals = np.zeros_like(local)
    normals[np.arange(len(local)), axis] = np.sign(local[np.arange(len(local)), axis])
    return normals @ rot.T


def _sample_texture(texture, coords_u, coords_v, tile):
    """Bilinear, wrapped lookup of a square texture at world coordinates (metres) tiled every ``tile`` m."""
    size, count = texture.shape[0], len(coords_u)
    width = _REMAP_BLOCK
    padded = -(-count // width) * width  # cv2.remap needs maps narrower than 32767 columns
    maps = [np.resize((coords / tile * size).astype(np.float32), padded).reshape(-1, width)
            for coords in (coords_u, coords_v)]
    sampled = cv2.remap(texture, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    return sampled.reshape(-1, 3)[:count]


def render(scene, rows, cols, origin=(0.0, 0.0, 0.0)):
    """Ray cast a scene from the camera at ``origin`` (world metres; its orientation is the scene camera's).

    Returns:
        (image float32 [rows, cols, 3] RGB in [0, 1], depth float32 [rows, cols] camera-frame z in metres).
    """
    dirs = scene.camera.rays(rows, cols).reshape(-1, 3)
    origins = np.asarray(origin, dtype=np.float64)
    surfaces = list(scene.planes) + list(scene.spheres) + list(scene.boxes)
    hits = np.stack([_hit(origins, dirs, s) for s in surfaces])
    winner = np.argmin(hits, axis=0)
    depth = hits.min(axis=0)
    points = (origins + dirs * depth[:, None]).astype(np.float32)  # shading needs no float64 precision
    albedo, normals = np.zeros_like(points), np.zeros_like(points)
    for index, surface in enumerate(surfaces):
        sel = np.flatnonzero(winner == index)
        if sel.size:
            albedo[sel], normals[sel] = _surface_look(surface, points[sel])
    light = np.asarray(scene.light, dtype=np.float32)
    lit = _unshadowed(points + np.float32(1e-4) * normals, light, scene)
    diffuse = np.clip(normals @ light, 0.0, None) * lit
    color = albedo * (scene.ambient + (1.0 - scene.ambient) * diffuse)[:, None]
    fog = np.exp(-scene.fog_density * depth.astype(np.float32))[:, None]
    color = color * fog + np.asarray(scene.fog_color, dtype=np.float32) * (1.0 - fog)
    return color.reshape(rows, cols, 3).astype(np.float32), depth.reshape(rows, cols).astype(np.float32)


def _hit(origins, dirs, surface):
    if isinstance(surface, Plane):
        return hit_plane(origins, dirs, surface)
    if isinstance(surface, Sphere):
        return hit_sphere(origins, dirs, surface)
    return hit_box(origins, dirs, surface)


def _surface_look(surface, points):
    """(albedo [N, 3], unit normal [N, 3]) of surface points."""
    if isinstance(surface, Plane):
        u_axis, v_axis = surface.uv_axes
        albedo = _sample_texture(surface.texture, points[:, u_axis], points[:, v_axis], surface.tile)
        return albedo, np.broadcast_to(np.asarray(surface.normal, dtype=np.float64), points.shape)
    if isinstance(surface, Sphere):
        normals = (points - np.asarray(surface.center)) / surface.radius
    else:
        normals = _box_normals(points, surface)
    return np.broadcast_to(np.asarray(surface.albedo), points.shape), normals


def _unshadowed(origins, light, scene):
    """1.0 where the light is visible from the point, 0.0 where an object blocks it."""
    dirs = np.asarray(light, dtype=np.float32)
    blocked = np.zeros(len(origins), dtype=bool)
    for obj in list(scene.spheres) + list(scene.boxes):
        blocked |= np.isfinite(_hit(origins, dirs, obj))
    return (~blocked).astype(np.float32)


def _random_texture(rng, size=64):
    """A square RGB texture in [0, 1]: a two-colour checkerboard or smooth coloured noise, plus fine grain."""
    first, second = rng.uniform(0.15, 0.9, 3), rng.uniform(0.15, 0.9, 3)
    if rng.random() < 0.5:
        rows, cols = np.indices((size, size)) // (size // 2)
        weight = ((rows + cols) % 2).astype(np.float64)
    else:
        weight = cv2.resize(rng.random((4, 4)), (size, size), interpolation=cv2.INTER_CUBIC)
    texture = first * weight[..., None] + second * (1.0 - weight[..., None])
    grain = rng.normal(0.0, 0.04, (size, size, 1))
    return np.clip(texture + grain, 0.0, 1.0).astype(np.float32)


def _random_color(rng):
    """A saturated random colour (HSV with random hue, saturation 0.5-1, value 0.5-1) as RGB in [0, 1]."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(128, 255), rng.uniform(128, 255)]]], dtype=np.uint8)
    return tuple(float(c) / 255.0 for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def random_scene(rng, rows, cols):
    """A random learnable scene for a rows x cols image (camera, walls, 1-4 boxes, 0-3 spheres, light)."""
    fov = np.deg2rad(rng.uniform(50.0, 70.0))
    camera = Camera(focal=cols / 2 / np.tan(fov / 2), height=rng.uniform(1.2, 2.0),
                    pitch=np.deg2rad(rng.uniform(5.0, 20.0)))
    wall_z = rng.uniform(8.0, 15.0)
    planes = [Plane((0.0, 1.0, 0.0), -camera.height, _random_texture(rng), rng.uniform(0.5, 2.0), (0, 2)),
              Plane((0.0, 0.0, 1.0), wall_z, _random_texture(rng), rng.uniform(1.0, 3.0), (0, 1))]
    half_width = np.tan(fov / 2)
    for side in (-1.0, 1.0):
        if rng.random() < 0.5:
            offset = side * wall_z * half_width * rng.uniform(0.5, 0.9)
            planes.append(Plane((side, 0.0, 0.0), abs(offset), _random_texture(rng), rng.uniform(1.0, 3.0), (2, 1)))

    def ground_position(size):
        z = rng.uniform(2.5, wall_z - 1.0)
        return rng.uniform(-0.8, 0.8) * z * half_width, z, -camera.height + size

    spheres, boxes = [], []
    for _ in range(rng.integers(0, 4)):
        radius = rng.uniform(0.3, 1.0)
        x, z, y = ground_position(radius)
        spheres.append(Sphere((x, y, z), radius, _random_color(rng)))
    for _ in range(rng.integers(1, 5)):
        half = (rng.uniform(0.2, 0.8), rng.uniform(0.2, 1.2), rng.uniform(0.2, 0.8))
        x, z, y = ground_position(half[1])
        boxes.append(Box((x, y, z), half, rng.uniform(0, np.pi), _random_color(rng)))
    light = np.array([rng.uniform(-1.0, 1.0), rng.uniform(0.6, 1.5), rng.uniform(-1.0, 0.3)])
    return Scene(camera, planes, spheres, boxes, tuple(light / np.linalg.norm(light)), rng.uniform(0.25, 0.45),
                 rng.uniform(0.0, 0.04), tuple(rng.uniform(0.6, 0.9, 3)))


def scene_rng(seed, index):
    """The generator of scene ``index``: scenes do not depend on how many are generated."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def relative_disparity_png(depth):
    """ReDWeb-style RD map: disparity 1/depth min-max normalised to uint16 (larger = nearer)."""
    disparity = 1.0 / depth.astype(np.float64)
    low, high = disparity.min(), disparity.max()
    scaled = (disparity - low) / (high - low) if high > low else np.zeros_like(disparity)
    return np.round(scaled * 65535.0).astype(np.uint16)


def make_scene(seed, index, rows, cols):
    """Scene ``index`` of a dataset as (image float32 [rows, cols, 3], depth float32 [rows, cols] metres)."""
    rng = scene_rng(seed, index)
    image, depth = render(random_scene(rng, rows, cols), rows, cols)
    image = np.clip(image + _NOISE_STD * rng.standard_normal(image.shape, dtype=np.float32), 0.0, 1.0)
    return image, depth


def make_stereo_scene(seed, index, rows, cols, baseline=STEREO_BASELINE):
    """Scene ``index`` seen by a rectified pair: (left, right float32 [rows, cols, 3] RGB, left-view disparity
    float32 [rows, cols] in pixels = focal x baseline / depth). The camera's x axis is the world's (it only
    pitches), so the right camera at (baseline, 0, 0) is rectified with the left one."""
    rng = scene_rng(seed, index)
    scene = random_scene(rng, rows, cols)
    (left, depth), (right, _) = render(scene, rows, cols), render(scene, rows, cols, (baseline, 0.0, 0.0))
    left, right = (np.clip(view + _NOISE_STD * rng.standard_normal(view.shape, dtype=np.float32), 0.0, 1.0)
                   for view in (left, right))
    return left, right, (scene.camera.focal * baseline / depth).astype(np.float32)


def _bgr8(image):
    return cv2.cvtColor(np.round(image * 255.0).astype(np.uint8), cv2.COLOR_RGB2BGR)


def _encode(ext, image, params=()):
    ok, encoded = cv2.imencode(ext, image, list(params))
    if not ok:
        raise OSError(f"could not encode a {ext} image")
    return encoded


def _scene_files(index, seed, rows, cols, jpeg_quality, layouts):
    """{path relative to the dataset root: encoded image bytes, or a float32 array for ``.npy``} of scene
    ``index`` in ``layouts``."""
    stem, files = f"scene_{index:05d}", {}
    if "redweb" in layouts or "folder" in layouts:
        image, depth = make_scene(seed, index, rows, cols)
        jpeg = _encode(".jpg", _bgr8(image), (cv2.IMWRITE_JPEG_QUALITY, jpeg_quality))
        if "redweb" in layouts:
            files.update({f"Imgs/{stem}.jpg": jpeg, f"RDs/{stem}.png": _encode(".png", relative_disparity_png(depth))})
        if "folder" in layouts:
            files.update({f"images/{stem}.jpg": jpeg, f"depth/{stem}.npy": depth})
    if "stereo" in layouts:
        left, right, disparity = make_stereo_scene(seed, index, rows, cols)
        files.update({f"left/{stem}.png": _encode(".png", _bgr8(left)),
                      f"right/{stem}.png": _encode(".png", _bgr8(right)), f"disparity/{stem}.npy": disparity})
    return files


def write_synthetic_dataset(root, num_scenes, rows=384, cols=384, seed=0, layouts=("redweb",), jpeg_quality=95,
                            workers=1):
    """Write ``num_scenes`` scenes under ``root`` in the given layouts ("redweb", "folder", "stereo").

    redweb: ``Imgs/scene_<i>.jpg`` + ``RDs/scene_<i>.png`` (16-bit, larger = nearer);
    folder: ``images/scene_<i>.jpg`` + ``depth/scene_<i>.npy`` (float32 depth, metres);
    stereo: ``left/scene_<i>.png`` + ``right/scene_<i>.png`` + ``disparity/scene_<i>.npy`` (pixels).
    ``workers`` > 1 renders in that many processes (same output). Returns the list of stems.
    """
    unknown = sorted(set(layouts) - set(LAYOUTS))
    if unknown or not layouts:
        raise ValueError(f"layouts must be a non-empty subset of {LAYOUTS}, got {list(layouts)}")
    if num_scenes <= 0 or rows < 8 or cols < 8 or workers < 1:
        raise ValueError(f"need num_scenes > 0, an image of at least 8x8 and workers >= 1, got {num_scenes} scenes "
                         f"of {cols}x{rows} with {workers} workers")
    folders = {"redweb": ("Imgs", "RDs"), "folder": ("images", "depth"), "stereo": ("left", "right", "disparity")}
    for layout in layouts:
        for folder in folders[layout]:
            os.makedirs(os.path.join(root, folder), exist_ok=True)
    render_one = partial(_scene_files, seed=seed, rows=rows, cols=cols, jpeg_quality=jpeg_quality,
                         layouts=tuple(layouts))
    with ProcessPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        scenes = pool.map(render_one, range(num_scenes)) if pool else map(render_one, range(num_scenes))
        stems = []
        for index, files in enumerate(tqdm(scenes, total=num_scenes, desc="synthetic scenes", unit="scene")):
            for relative, payload in files.items():
                path = os.path.join(root, relative)
                if relative.endswith(".npy"):
                    np.save(path, payload)
                else:
                    payload.tofile(path)
            stems.append(f"scene_{index:05d}")
    _logger.info("wrote %d synthetic scenes (%dx%d) to %s", num_scenes, cols, rows, root)
    return stems
