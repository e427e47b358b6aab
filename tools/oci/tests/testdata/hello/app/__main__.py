"""Prints a greeting and proves the pinned third-party package imports inside the image."""

import os
import sys

import idna

print(os.environ.get("GREETING", "?"), idna.encode("bücher.example").decode(), *sys.argv[1:])
