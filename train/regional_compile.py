"""`train.compile_layers`: torch.compile each decoder layer, not the whole model.

All layers share one code object, so dynamo traces and Inductor compiles a layer
once and every other layer reuses it (whole-model compile of the QLoRA model did
not finish in 4 minutes). The fused elementwise kernels cut launches per step; the
4-bit matmuls stay bitsandbytes' own ops. Off by default: bench/README.md has
what it gains and what its compile costs.
"""

from __future__ import annotations

from typing import Any


def compile_decoder_layers(model: Any) -> str:
    """Compile every `*DecoderLayer` in place; returns what was done, for the run card."""
    layers = [m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")]
    for layer in layers:
        layer.compile(dynamic=True)  # packed rows vary in length: one graph for every length
    return f"{len(layers)} decoder layers ({type(layers[0]).__name__ if layers else 'none'}), torch.compile default mode"
