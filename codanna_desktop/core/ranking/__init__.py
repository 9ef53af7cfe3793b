"""Turning a query into ranked results: its shape, the weight, the lexical query and every
boost, fusion, how a result matches and its highlighted words."""
