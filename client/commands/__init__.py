"""One module per command; each exports `run(args, session, out) -> int`."""
