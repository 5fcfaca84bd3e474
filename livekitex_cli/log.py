"""The one package logger. Handlers are installed by the CLI only."""

from __future__ import annotations

import logging

logger = logging.getLogger("livekitex")


def get_logger(name: str) -> logging.Logger:
    """A child of the package logger, e.g. ``get_logger("session")``."""
    return logger.getChild(name)


# A library logs nothing by default; the CLI installs the handlers.
logger.addHandler(logging.NullHandler())
