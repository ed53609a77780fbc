"""`python -m cli`: the `landscape` command, for a tree that is not installed."""

from cli.main import main

main()
