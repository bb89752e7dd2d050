"""``python -m idflow``: the same command line as ``idflow``."""

from idflow.cli import main

main()
