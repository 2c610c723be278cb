"""The DataLoader and the per-operation loaders that batch every lookup."""
