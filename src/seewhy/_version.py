"""seewhy's version, in one place (``seewhy.__version__``, ``seewhy --version``, report.json)."""

__version__ = "0.1.0"
