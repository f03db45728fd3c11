"""What every stage shares and no stage owns: config, errors, atomic writes, hashing, shingling.

`core` imports no stage package (builder, annotate, train, dsforge); the
import-linter contract in pyproject.toml keeps it that way.
"""
