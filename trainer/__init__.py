"""CycleHand trainer: data, model, losses, metrics, training loop and CLI."""
