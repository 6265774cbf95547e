"""Protocol Lab command-line client: speaks only the wire contract."""

__version__ = "0.1.0"
