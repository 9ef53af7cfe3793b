"""Exact search: every line that matches a regular expression or a literal, as ripgrep
finds them, answered from an n-gram index of whole file texts instead of a scan."""
