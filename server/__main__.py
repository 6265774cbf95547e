"""`python -m server`: parse the options, serve, and stop cleanly on Ctrl-C."""

import asyncio
import logging
import sys
from collections.abc import Sequence

from server.runner import serve
from server.settings import SettingsError, build_parser, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; returns the process exit status (2 for invalid options)."""
    try:
        settings = load_settings(argv)
    except SettingsError as exc:
        build_parser().error(str(exc))  # prints usage and one line, exits with 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    def announce(url: str) -> None:
        print(f"Protocol Lab is serving on {url}  (Ctrl-C to stop)", flush=True)

    try:
        asyncio.run(serve(settings, announce))
    except OSError as exc:  # e.g. the port is taken: one line, not a traceback
        print(f"python -m server: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
