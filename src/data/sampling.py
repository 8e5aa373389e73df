"""Which sample goes where: validation hold-out, per-epoch shuffles, dataset mixing and rank sharding.

Pure index arithmetic (no I/O, no global RNG state), so a run resumed at any global step, or split
over any number of ranks, draws exactly the samples of the uninterrupted single-process run.
"""
import numpy as np

from src.data.depth_files import DatasetError

VAL_SPLIT_SEED = 20190707  # fixed: the held-out split never changes with the training seed


def split_indices(num_samples, val_fraction):
    """(train_indices, val_indices) of a dataset: a fixed random ``val_fraction`` is held out (sorted lists)."""
    if not 0.0 <= val_fraction < 1.0:
        raise DatasetError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(VAL_SPLIT_SEED).permutation(num_samples)
    num_val = int(round(num_samples * val_fraction))
    return sorted(order[num_val:].tolist()), sorted(order[:num_val].tolist())


class TrainSchedule:
    """Maps (global step, slot in the rank's batch) to (dataset id, sample index, stream position).

    Every global step holds ``rank_size * batch_size`` samples, an equal share ``share`` from each of
    the D datasets (naive mixing; D = 1 is the single-dataset case). Rank r's batch is ordered by
    dataset: for each dataset, its contiguous slice ``[r*b, (r+1)*b)`` of that dataset's share
    (b = batch_size / D). The union of all ranks' batches at a step is the batch of one rank with
    batch size ``rank_size * batch_size``.

    Dataset d is read as a stream: stream position k = step * share + rank offset + slot. The stream
    is a sequence of passes over ``usable_d = floor(N_d / share) * share`` samples, pass p being the
    permutation seeded by (seed, d, p) (the last ``N_d - usable_d`` of each permutation are dropped,
    as ``drop_remainder``). One epoch = one pass over the largest dataset; smaller datasets start a
    new, reshuffled pass when they run out.
    """

    def __init__(self, dataset_sizes, batch_size, seed=0, rank=0, rank_size=1):
        num_datasets = len(dataset_sizes)
        if num_datasets == 0:
            raise DatasetError("no training dataset configured (train_datasets is empty)")
        if batch_size <= 0 or batch_size % num_datasets:
            raise DatasetError(f"batch_size {batch_size} must be a positive multiple of the number of "
                               f"datasets ({num_datasets}) for equal per-dataset shares")
        if not 0 <= rank < rank_size:
            raise DatasetError(f"rank {rank} must be in [0, rank_size={rank_size})")
        self.batch_size, self.seed, self.rank, self.rank_size = batch_size, int(seed), rank, rank_size
        self.rank_share = batch_size // num_datasets
        self.share = self.rank_share * rank_size
        self.sizes = list(dataset_sizes)
        for index, size in enumerate(self.sizes):
            if size < self.share:
                raise DatasetError(f"dataset #{index} has {size} training samples, fewer than its share of one "
                                   f"global batch ({self.share}); lower batch_size or rank_size")
        self.usable = [(size // self.share) * self.share for size in self.sizes]
        self.steps_per_epoch = max(self.usable) // self.share
        self._current_pass = {}  # dataset_id -> (pass_index, permutation); reads are sequential

    def permutation(self, dataset_id, pass_index):
        """Sample order of pass ``pass_index`` over dataset ``dataset_id`` (seeded by (seed, id, pass))."""
        cached = self._current_pass.get(dataset_id)
        if cached is None or cached[0] != pass_index:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, dataset_id, pass_index]))
            cached = self._current_pass[dataset_id] = (pass_index, rng.permutation(self.sizes[dataset_id]))
        return cached[1]

    def locate(self, step, slot):
        """(dataset_id, sample index into the dataset's training list, stream position) of one batch slot."""
        dataset_id, offset = divmod(slot, self.rank_share)
        position = step * self.share + self.rank * self.rank_share + offset
        pass_index, within = divmod(position, self.usable[dataset_id])
        return dataset_id, int(self.permutation(dataset_id, pass_index)[within]), position
