"""Checks of output locations before any work starts: one clear error naming the path."""
import os


def check_output_dir(folder, what="output folder"):
    """Create ``folder`` if needed and check that files can be written in it (OSError: one line)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(f"{folder}: {what} is a file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise OSError(f"{folder}: cannot create the {what} ({err.strerror})") from err
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{folder}: {what} is not writable")
    return folder


def check_output_file(path, what="output file"):
    """Check that ``path`` can be written: its folder exists (or is created) and is writable, and it is
    not a folder itself."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: {what} is a folder")
    check_output_dir(os.path.dirname(os.path.abspath(path)), f"folder of the {what}")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise PermissionError(f"{path}: {what} exists and is not writable")
    return path
