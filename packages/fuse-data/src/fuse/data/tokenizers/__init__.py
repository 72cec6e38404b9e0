"""The modular tokenizer: several Hugging Face ``tokenizers`` (amino acids, SMILES, gene names, ...) merged into one
id space, with shared special tokens, typed inputs and FuseMedML's on-disk format.

Needs the ``tokenizers`` extra (``pip install "fuse-data[tokenizers]"``). The public names are published by
``fuse.data`` lazily, so ``import fuse.data`` does not import ``tokenizers``.
"""
