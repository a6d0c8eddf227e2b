"""Tests of sipguard/config/ (the loader) and sipguard/logs.py."""
