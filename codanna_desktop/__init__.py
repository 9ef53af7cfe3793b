"""Codanna Desktop: local code search, lexical and semantic."""

__version__ = "0.1.0"
