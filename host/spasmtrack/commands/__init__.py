"""Sub-commands of the ``spasmtrack`` CLI, one module each (see :mod:`spasmtrack.cli`)."""
