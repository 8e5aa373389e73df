"""The convention every ``midas_*.py`` tool follows: parse the config, run one function, map errors to exit codes.

Exit 0: everything done. Exit 1: some items failed, the rest was written (the tool returns 1), or the
run stopped part-way (:class:`RunFailed`). Exit 2: a usage or setup error (bad flag or config, missing
or unusable file, unwritable output): one ``error:`` line on stderr naming the culprit, no traceback.
"""
import logging
import sys

from src.config import load_config
from src.logger import setup_logging

LOGGER = logging.getLogger(__name__)
SETUP_ERRORS = (ValueError, OSError)  # every error of this package that names a file or value is one of these


class RunFailed(RuntimeError):
    """The work started but could not finish (e.g. a diverging loss); what was written so far stays."""


def run_tool(work, argv, tool, description):
    """Resolve ``tool``'s config from ``argv``, call ``work(config)`` and return the exit code.

    Args:
        work: function(config) -> exit code (0, or 1 when some items failed).
        tool: "run", "eval", "export" or "train" (which config sections the tool sees).
    """
    setup_logging()
    try:
        config = load_config(argv, tool, description)
        return work(config)
    except RunFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except SETUP_ERRORS as err:
        LOGGER.debug("setup error", exc_info=True)
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2


def one_line(err):
    """The first line of an exception's message (MindSpore appends C++ stack traces to some)."""
    text = str(err).strip() or type(err).__name__
    if isinstance(err, OSError) and err.filename and err.strerror:
        text = f"{err.filename}: {err.strerror}"
    return text.splitlines()[0]
