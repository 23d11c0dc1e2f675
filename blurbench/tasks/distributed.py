"""DDP settings the training tasks need, applied from their ``setup`` (before Lightning wraps the model in DDP).

Plain DDP (``find_unused_parameters=False``) requires every trainable parameter to receive a gradient in every
backward pass. Two tasks break that by design: the DeblurGAN tasks (manual optimisation: one backward reaches
only the critic, the next only the generator) and blur-field training (``BlurFieldNet``'s grey-input stem
``inc_gray`` is unused for RGB images, kept so the released weights load strictly). Without this, every
``--trainer.strategy ddp`` run (and ``--trainer.devices N``, which picks DDP) of them stops at the first step.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.strategies import DDPStrategy

__all__ = ["detect_unused_parameters"]


def detect_unused_parameters(module: L.LightningModule) -> None:
    """Turn on DDP's unused-parameter detection for ``module``'s run, unless the strategy was given a value.

    Call from ``setup``: Lightning builds the DDP wrapper after it. A strategy configured explicitly
    (``ddp_find_unused_parameters_false``, ``DDPStrategy(find_unused_parameters=...)`` or ``static_graph``) is
    left alone.
    """
    trainer = module._trainer
    strategy = getattr(trainer, "strategy", None)
    if isinstance(strategy, DDPStrategy):
        kwargs = strategy._ddp_kwargs  # read by DDPStrategy._setup_model when it wraps the module
        if not kwargs.get("static_graph"):
            kwargs.setdefault("find_unused_parameters", True)
