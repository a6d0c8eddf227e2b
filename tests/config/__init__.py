"""Tests of sipguard/config.py (the loader) and sipguard/logs.py."""
