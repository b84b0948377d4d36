"""The ``seewhy`` command: a thin shell over the Python API."""
