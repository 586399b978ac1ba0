"""``python -m engine.cli``: the same as the ``petseg`` command (the detached launcher and torchrun use it)."""

import sys

from engine.cli import main

sys.exit(main())
