"""Training of MiDaS: parameter groups and LR schedules, the train step (naive / Pareto mixing, mixed
precision, data parallel), weight initialisation, checkpoints with exact resume, validation and the loop."""
