"""The metric families: classification, segmentation, reader studies (MRMC), regression, survival, sequences and value
counts.
"""
