"""`python -m kdiag` runs the command line."""

from kdiag.cli import run

run()
