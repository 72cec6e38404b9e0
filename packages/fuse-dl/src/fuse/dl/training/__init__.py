"""Training with Lightning (named so that it never shadows the ``lightning`` package): ``LightningModuleDefault`` and its building blocks (per-step losses, metrics and predictions, epoch-end
logging, default callbacks, the epoch summary), plus what DDP needs (gathering every rank's samples, the padded rows
of a distributed sampler, a batch sampler's epoch across a resumed fit)."""
