"""Data: synthetic sparse problems (one generator for every claim), bundled real datasets,
image patches and optional, checksum-verified downloads."""

from .synthetic import *  # noqa: F401,F403
from .real import *  # noqa: F401,F403
from .patches import *  # noqa: F401,F403
from .download import *  # noqa: F401,F403
