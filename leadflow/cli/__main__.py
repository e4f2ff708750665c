"""`python -m leadflow.cli …` is the `leadflow` command."""

from leadflow.cli.main import main

main()
