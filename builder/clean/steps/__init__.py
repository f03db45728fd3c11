"""Built-in steps, one module each; builder/clean/registry.py lists them in run order."""
