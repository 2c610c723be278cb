"""`python -m bench`: the benchmark command (bench/cli.py)."""

from bench.cli import main

main()
