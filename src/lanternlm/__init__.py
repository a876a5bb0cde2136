"""Lantern: a language-model toolkit whose every part you can read, run and look inside."""

__version__ = "0.1.0"
