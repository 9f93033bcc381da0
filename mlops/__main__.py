"""``python -m mlops``: the same command line as the ``mlops`` console script."""

from mlops.cli import main

main()
