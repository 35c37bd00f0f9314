"""oob: run an out-of-band production deployment end to end."""

__version__ = "0.1.0"
