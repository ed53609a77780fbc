"""Command line interface: `landscape <command>` (click), glue over `landscape` and `models`."""
