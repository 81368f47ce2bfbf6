"""`python -m waza` is the `waza` command."""

from waza.cli import main

main()
