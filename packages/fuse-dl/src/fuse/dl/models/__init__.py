"""Models: compositions of ``nn.Module`` s that read and write the batch dict (a backbone with heads, multi-stream and
siamese models, an ensemble of saved models, wrappers of plain modules)."""
