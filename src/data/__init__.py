"""Training data: readers per on-disk format (``readers``, ``kitti_reader``, ``nyu_reader``, ``stereo``), paper
augmentation (``augment``), mixing/sharding (``sampling``), MindSpore pipelines (``pipeline``).

Import the submodules: this package imports nothing, so the evaluation sets can use its file readers
(``depth_files``, ``samples``) without loading the training pipeline.
"""
