"""Turning a query into ranked results: its shape, the weight, fusion, how a result matches."""
