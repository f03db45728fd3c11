"""`python -m dsforge` runs the command line."""

from dsforge.cli import main

main()
