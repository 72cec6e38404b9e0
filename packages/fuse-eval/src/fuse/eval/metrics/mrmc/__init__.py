"""Multi-reader multi-case (MRMC) analysis of reader studies: the design read from a table, the AUC covariance
estimators, and the Obuchowski-Rockette analysis.
"""
