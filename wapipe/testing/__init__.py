"""Test harness shared by pytest (tests/conftest.py) and the pgTAP runner."""
