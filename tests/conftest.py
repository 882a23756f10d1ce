"""Shared test setup: tests import the installed ``callbox`` package (``pip install -e .``)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
