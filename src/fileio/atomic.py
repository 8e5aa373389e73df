"""Atomic file writes: a temporary file in the target folder, renamed over the target when complete.

A killed process or a full disk never leaves a truncated output under the final name: the temporary
file (``.<name>.<random>.tmp``) is removed on any error, and :func:`remove_stale_temporaries` clears
those of a process that was killed. Written files get the usual mode (0666 less the umask).
"""
import contextlib
import glob
import os
import tempfile

TEMP_SUFFIX = ".tmp"


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_current_umask()


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path`` for writing (``mode`` "wb" or "w"); rename it to ``path``
    when the block ends without error, delete it otherwise."""
    folder = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=TEMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(descriptor, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def write_bytes_atomic(path, data):
    """Write ``data`` (bytes or a NumPy buffer) to ``path`` atomically."""
    with atomic_write(path, "wb") as handle:
        handle.write(memoryview(data).cast("B") if not isinstance(data, bytes) else data)


def remove_stale_temporaries(folder, patterns=(f".*{TEMP_SUFFIX}",)):
    """Delete the temporary files an interrupted write left in ``folder`` (:func:`atomic_write`'s by default;
    MindSpore's checkpoint writer leaves ``<name>.tmp``); returns their paths."""
    stale = sorted(path for pattern in patterns for path in glob.glob(os.path.join(folder, pattern)))
    for path in stale:
        with contextlib.suppress(OSError):
            os.remove(path)
    return stale
