"""The ``tokencast`` command line: one module per group of subcommands."""
