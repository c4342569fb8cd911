"""Training: schedule, checkpoints and the training loop."""
