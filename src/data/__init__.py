"""Training data: readers per on-disk format, paper augmentation, mixing/sharding, MindSpore pipelines."""
from src.data.augment import crop_shape
from src.data.depth_files import DatasetError
from src.data.pipeline import (
    COLUMNS,
    TrainPipeline,
    build_eval_split,
    build_train_pipeline,
    load_datasets,
    pipeline_error_message,
    steps_per_epoch,
)
from src.data.readers import FolderReader, ReDWebReader, make_reader

__all__ = ["COLUMNS", "DatasetError", "FolderReader", "ReDWebReader", "TrainPipeline", "build_eval_split",
           "build_train_pipeline", "crop_shape", "load_datasets", "make_reader", "pipeline_error_message", "steps_per_epoch"]
