"""Splitting a file's text into symbol-sized chunks, per language."""
