"""The HTTP service: `graphrec serve RUN_DIR` (see :mod:`graphrec.service.app`)."""

from graphrec.service.app import create_app
from graphrec.service.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]
