"""Logging: a rotating file, redacted on every handler."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from app.core.redact import RedactingFilter, Redactor

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_BYTES = 1_000_000
BACKUPS = 5


def setup_logging(
    log_file: Path | None,
    redactor: Redactor,
    *,
    level: int = logging.INFO,
    stderr_level: int | None = None,
) -> list[logging.Handler]:
    """Send the app's logs to a rotating file (and stderr), redacting every record.

    Returns the handlers added to the root logger, so a caller can remove them.
    A log folder that cannot be created leaves file logging off, never the app.
    """
    root = logging.getLogger()
    root.setLevel(min(level, stderr_level or level))
    handlers: list[logging.Handler] = []
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(
                logging.handlers.RotatingFileHandler(
                    log_file, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
                )
            )
        except OSError as error:
            logging.getLogger(__name__).warning("File logging is off: %s", error)
    if stderr_level is not None:
        stream = logging.StreamHandler()
        stream.setLevel(stderr_level)
        handlers.append(stream)
    for handler in handlers:
        handler.addFilter(RedactingFilter(redactor))
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    # httpx logs each request line at INFO; its URLs are fine but the noise is not.
    for noisy in ("httpx", "httpcore", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handlers
