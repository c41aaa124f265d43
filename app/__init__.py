"""haochaping: the 好差评 (good/bad review) service for government service centres."""

__version__ = "0.1.0"
