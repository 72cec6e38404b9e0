"""What a training run prints: Lightning's lines that say nothing about the run are left out, progress bars are
drawn only on a terminal.

:func:`quiet_lightning_notices` runs when ``fuse.dl`` is imported. It hides exactly two kinds of lines, matched by
their text, and nothing else (Lightning's warnings, fuse's warnings and the user's are all kept):

- Lightning's ``"💡 Tip: ..."`` lines (litlogger, litmodels): product suggestions printed by every ``Trainer``, the
  litmodels one about the default checkpoint that :class:`LightningModuleDefault` replaces with its own;
- the ``FutureWarning`` "``isinstance(treespec, LeafSpec)`` is deprecated" that Lightning's own ``_pytree`` module
  raises with newer torch releases for every data loader: a note for Lightning's developers that the user cannot act on.

>>> quiet_lightning_notices()  # idempotent: a second call adds nothing
>>> sum(isinstance(f, _LightningTipFilter) for f in logging.getLogger(_LIGHTNING_RANK_ZERO_LOGGER).filters)
1
>>> sum(_is_leafspec_filter(entry) for entry in warnings.filters)
1
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

__all__ = ["interactive_output", "quiet_lightning_notices"]

# every rank_zero_info of lightning.pytorch goes through this logger (lightning/pytorch/utilities/rank_zero.py)
_LIGHTNING_RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"
_TIP_PREFIX = "💡 Tip:"
_LEAFSPEC_MESSAGE = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
_LEAFSPEC_MODULE = r"lightning\.pytorch\.utilities\._pytree"


class _LightningTipFilter(logging.Filter):
    """Drops Lightning's ``"💡 Tip: ..."`` records, keeps every other one."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        return not (isinstance(message, str) and message.startswith(_TIP_PREFIX))


def quiet_lightning_notices() -> None:
    """Hide Lightning's tips and its own ``LeafSpec`` deprecation warning (see the module docstring); idempotent."""
    logger = logging.getLogger(_LIGHTNING_RANK_ZERO_LOGGER)
    if not any(isinstance(existing, _LightningTipFilter) for existing in logger.filters):
        logger.addFilter(_LightningTipFilter())
    # added only when missing: each change of the filters makes every "show once" warning show again
    if not any(_is_leafspec_filter(entry) for entry in warnings.filters):
        # module=: only where Lightning's _pytree raises it; the same deprecation raised by other code still shows
        warnings.filterwarnings("ignore", message=_LEAFSPEC_MESSAGE, category=FutureWarning, module=_LEAFSPEC_MODULE)


def _is_leafspec_filter(entry: tuple[Any, ...]) -> bool:
    action, message, category, module = entry[:4]
    return (
        action == "ignore"
        and getattr(message, "pattern", None) == _LEAFSPEC_MESSAGE
        and category is FutureWarning
        and getattr(module, "pattern", None) == _LEAFSPEC_MODULE
    )


def interactive_output(*streams: Any) -> bool:
    """Whether progress bars make sense: ``stdout`` and ``stderr`` (or the ``streams`` given) are terminals.
    Redirected to a file or a pipe, a progress bar only adds lines (fuse's own ``Trainer`` set-ups pass this as
    ``enable_progress_bar``).

    >>> import io
    >>> interactive_output(io.StringIO())
    False
    """
    checked = streams or (sys.stdout, sys.stderr)
    for stream in checked:
        isatty = getattr(stream, "isatty", None)
        try:
            if isatty is None or not isatty():
                return False
        except (ValueError, OSError):  # a closed or detached stream
            return False
    return True
