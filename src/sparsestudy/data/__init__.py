"""Data: synthetic sparse problems (one generator for every claim), bundled real datasets,
image patches and optional, checksum-verified downloads."""

from .synthetic import *  # noqa: F401,F403
