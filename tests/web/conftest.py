"""The page tests' fixtures (the browser, the intranet server) are in tests/conftest.py: the
kiosk and console tests use them too."""
