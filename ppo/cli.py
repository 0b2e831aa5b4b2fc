"""What the project's command lines share: errors as one line and exit code 2."""
from __future__ import annotations

import argparse


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line `<prog>: error: ...` and exit code 2, without
    the usage block (the message says what to fix; --help shows the rest)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")
