"""Runnable templates: copy one and replace its synthetic data with yours."""
