"""Protocol Lab command-line client: speaks only the wire contract."""
