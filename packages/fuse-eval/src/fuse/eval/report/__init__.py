"""The evaluation report of ``fuse-eval`` and ``write_report``: settings, evaluation, decision sections, figures, and
HTML/Markdown/JSON rendering.
"""
