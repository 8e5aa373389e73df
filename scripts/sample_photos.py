"""Write a few real photos shipped inside scikit-image (no download) into a folder, e.g. the Quick start's input:

    python scripts/sample_photos.py input

Files already in the folder are never replaced: each one is skipped with a message. Exit code 0, or 2 with
one ``error:`` line when the folder cannot be created or written.
"""
import argparse
import os
import sys

import cv2
import skimage.data

# file name -> scikit-image sample (RGB uint8 arrays)
PHOTOS = {"coffee.jpg": "coffee", "chelsea.jpg": "chelsea", "astronaut.png": "astronaut", "rocket.jpg": "rocket"}
JPEG_QUALITY = 95


def encoded_photo(file_name):
    """The bytes of ``file_name`` of :data:`PHOTOS`: its scikit-image sample as JPEG or PNG."""
    rgb = getattr(skimage.data, PHOTOS[file_name])()
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if file_name.endswith(".jpg") else []
    ok, data = cv2.imencode(os.path.splitext(file_name)[1], rgb[..., ::-1], params)
    if not ok:
        raise OSError(f"{file_name}: OpenCV could not encode it")
    return data.tobytes()


def write_photos(out_dir):
    """Write the photos missing from ``out_dir`` (created if needed); returns (written, same, different):
    the paths written, and those skipped because the same photo or another file was already there."""
    os.makedirs(out_dir, exist_ok=True)
    written, same, different = [], [], []
    for file_name in PHOTOS:
        path = os.path.join(out_dir, file_name)
        data = encoded_photo(file_name)
        try:
            with open(path, "xb") as handle:  # "x": an existing file is never overwritten
                handle.write(data)
        except FileExistsError:
            with open(path, "rb") as handle:
                (same if handle.read() == data else different).append(path)
            continue
        written.append(path)
    return written, same, different


def main(argv=None):
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("out_dir", help="folder for the photos (created if missing)")
    args = parser.parse_args(argv)
    try:
        written, same, different = write_photos(args.out_dir)
    except OSError as err:
        print(f"error: {args.out_dir}: {err.strerror or err}", file=sys.stderr)
        return 2
    for path in same:
        print(f"skipped {path}: already there")
    for path in different:
        print(f"skipped {path}: a different file of that name exists (left unchanged)", file=sys.stderr)
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
