"""One options model per section of dsforge.yaml, kept apart from the stage that reads it.

The config validates every section without importing a stage, so a stage can
import the config without the config importing it back.
"""
