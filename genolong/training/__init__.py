"""Training: the data module, the LightningModule, the Hydra entry point and its callbacks."""
