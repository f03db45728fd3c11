"""Built-in steps, registered in the run order below.

Encoding fixes come first so markup and PII are seen in canonical form; PII
runs before case/punctuation changes that would hide names and addresses
from the detectors; whitespace is tidied last, after every deletion.
"""

import importlib

BUILTIN_ORDER = (
    "unicode",
    "control",
    "markup",
    "pii",
    "case",
    "punctuation",
    "stopwords",
    "whitespace",
)

for _module in BUILTIN_ORDER:
    importlib.import_module(f"{__name__}.{_module}")
