"""The one Lightning fit of the small per-gene and per-base networks (gene function, ORF net, RNA
caller): a quiet CPU Trainer over a few epochs, then the module's best validation epoch loaded back.

Each module keeps `best_state` (a state dict copied at its best validation epoch, or None when it
never validated); the network comes back in eval mode with those weights.
"""

from __future__ import annotations

import logging


def fit_best_epoch(module, net, train_loader, val_loader, epochs: int, progress: bool = False,
                   deterministic: bool = True):
    """Fit `module` (which wraps `net`) for `epochs`; `net` ends with its best validation weights."""
    import pytorch_lightning as pl

    # seconds to minutes of CPU work: Lightning's device and tips banner would outweigh the log it sits in
    quiet = logging.getLogger("pytorch_lightning")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=progress, enable_model_summary=False,
                             num_sanity_val_steps=0, deterministic=deterministic)
        trainer.fit(module, train_loader, val_loader)
    finally:
        quiet.setLevel(level)
    if module.best_state is not None:
        net.load_state_dict(module.best_state)
    return net.eval()
