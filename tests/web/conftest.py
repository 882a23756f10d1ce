"""Fixtures for the panel tests live in web_support.py (a uniquely named module, so test files can
import its helpers without colliding with other folders' conftest.py); pytest finds them here."""

from web_support import *  # noqa: F401,F403
