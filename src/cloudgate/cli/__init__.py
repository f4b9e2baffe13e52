"""The ``cloudgate`` command line: one module per command group. Nothing imports ``cloudgate.cli``."""
