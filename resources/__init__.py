"""Icons, stylesheets and the desktop entry, loaded with importlib.resources."""
