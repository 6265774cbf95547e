"""One module per protocol: each handler reads like the protocol it serves."""
