"""waza: a Jupyter-native AI platform, wire-compatible with the Kamiwaza API."""

__version__ = "0.1.0"
