"""Logging setup shared by the entry points: console on rank 0, optional file per rank."""
import logging
import sys


def setup_logging(rank=0, log_file=None, level=logging.INFO):
    """Configure the root logger: rank 0 logs to stderr; every rank may also log to ``log_file``."""
    handlers = []
    if rank == 0:
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=level, format=f"%(asctime)s [rank {rank}] %(levelname)s %(message)s",
                        handlers=handlers or [logging.NullHandler()], force=True)
