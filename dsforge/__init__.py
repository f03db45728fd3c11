"""The `dsforge` command line: the top layer, above every stage.

Each command is a thin wrapper that loads the config and calls a stage
function; no stage imports this package.
"""
