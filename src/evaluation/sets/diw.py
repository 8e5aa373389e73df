"""DIW (Depth in the Wild, Chen et al. 2016) test set: one ordinal point pair per image -> WHDR.

``DIW_Annotations/DIW_test.csv`` alternates two lines per image: the image path
(``./DIW_test/<id>.thumb``; only its last two components are used, relative to the root) and
``yA,xA,yB,xB,rel,W,H`` with 1-based pixel coordinates in a W x H frame. ``rel`` is ``>`` when A is
FARTHER than B (Chen et al.'s convention: ``>`` = larger depth), ``<`` when A is closer.
"""
import os

import numpy as np

from src.data.samples import OrdinalSample
from src.evaluation.sets.base import EvalDataError, EvalSet, EvalSettings, require_file
from src.fileio.images import read_image

RELATION_A_FARTHER = {">": True, "<": False}


class DIW(EvalSet):
    """DIW test images and their point-pair annotations."""

    name = "DIW"
    settings = EvalSettings(headline="whdr", kind="ordinal")
    layout = "DIW_Annotations/DIW_test.csv and DIW_test/<id>.thumb"

    def _index(self):
        csv_path = require_file(os.path.join(self.root, "DIW_Annotations", "DIW_test.csv"), "DIW annotation file")
        with open(csv_path, encoding="utf-8") as handle:
            lines = [(number, line.strip()) for number, line in enumerate(handle, 1) if line.strip()]
        if len(lines) % 2:
            raise EvalDataError(f"{csv_path}: odd number of lines; expected image-path/annotation pairs")
        entries = {}
        for (path_line, image_path), (annotation_line, annotation) in zip(lines[::2], lines[1::2]):
            relative = "/".join(image_path.replace("\\", "/").split("/")[-2:])
            name = relative if relative not in entries else f"{relative}@line{path_line}"
            entries[name] = (os.path.join(self.root, *relative.split("/")), annotation,
                             f"{csv_path}:{annotation_line}")
        return entries

    def _load(self, name, entry):
        image_path, annotation, where = entry
        y_a, x_a, y_b, x_b, a_is_farther, width, height = parse_annotation(annotation, where)
        points = np.array([[np.clip(y_a - 1, 0, height - 1), np.clip(x_a - 1, 0, width - 1),
                            np.clip(y_b - 1, 0, height - 1), np.clip(x_b - 1, 0, width - 1)]], dtype=np.int64)
        return OrdinalSample(name, read_image(require_file(image_path, "DIW image")), height, width, points,
                             np.array([a_is_farther]))


def parse_annotation(text, where):
    """``yA,xA,yB,xB,rel,W,H`` -> (yA, xA, yB, xB, a_is_farther, W, H); ``where`` names the csv line."""
    fields = [field.strip() for field in text.split(",")]
    if len(fields) != 7 or fields[4] not in RELATION_A_FARTHER:
        raise EvalDataError(f"{where}: malformed annotation '{text}' (expected yA,xA,yB,xB,>|<,W,H)")
    try:
        y_a, x_a, y_b, x_b, width, height = (int(float(fields[i])) for i in (0, 1, 2, 3, 5, 6))
    except ValueError as err:
        raise EvalDataError(f"{where}: non-numeric coordinate in '{text}'") from err
    if width <= 0 or height <= 0:
        raise EvalDataError(f"{where}: image size must be positive in '{text}'")
    return y_a, x_a, y_b, x_b, RELATION_A_FARTHER[fields[4]], width, height
