"""A merged model (base + adapter folded in) as one GGUF file, F16 or Q8_0, for a base that came as GGUF.

The tokenizer, chat template and hyper-parameters are the base GGUF's own (every key-value pair is
copied), so nothing about the vocabulary is re-derived; only the weights are new. Each of the base
file's tensors is replaced by the merged model's tensor of the same role (gguf's TensorNameMap),
Llama-layout q/k rows permuted as llama.cpp's converter does, matrices written as F16 or Q8_0
with gguf's own quantiser, norms kept in F32. A tensor the merged model lacks, or one it has that
the base file does not, stops the export with its name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import atomic
from core.errors import TrainError
from train.gguf_lora import GgufLayout

TYPES = {"f16": "F16", "q8_0": "Q8_0"}


def export_merged_gguf(
    tensors: dict[str, Any],
    base_gguf: Path,
    target: Path,
    quant: str = "q8_0",
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write `tensors` (the merged model's state dict, HF names → float arrays) with `base_gguf`'s metadata."""
    import gguf
    import numpy as np

    if quant not in TYPES:
        raise TrainError(f"merged GGUF types are {sorted(TYPES)}, not {quant!r}.")
    reader = gguf.GGUFReader(str(base_gguf))
    arch = str(reader.fields["general.architecture"].contents())
    layout = GgufLayout.of(
        arch,
        int(reader.fields[f"{arch}.block_count"].contents()),
        int(reader.fields[f"{arch}.attention.head_count"].contents()),
        int(reader.fields[f"{arch}.attention.head_count_kv"].contents()),
    )
    by_gguf_name = dict(layout.place(hf_name, value, "the merged model") for hf_name, value in tensors.items())
    wanted = [tensor.name for tensor in reader.tensors]
    if "output.weight" not in wanted:  # tied embeddings: llama.cpp reads the output head from token_embd
        by_gguf_name.pop("output.weight", None)
    missing = [name for name in wanted if name not in by_gguf_name]
    extra = sorted(set(by_gguf_name) - set(wanted))
    if missing or extra:
        raise TrainError(
            f"the merged model does not match {base_gguf.name}: missing {missing[:5]}, not in the base {extra[:5]}."
        )
    qtype = getattr(gguf.GGMLQuantizationType, TYPES[quant])
    file_type = gguf.LlamaFileType.MOSTLY_Q8_0 if quant == "q8_0" else gguf.LlamaFileType.MOSTLY_F16

    def write(tmp: Path) -> None:
        writer = gguf.GGUFWriter(tmp, arch)
        _copy_metadata(reader, writer, skip={"general.architecture", "general.file_type"})
        writer.add_file_type(file_type)
        for key, value in (metadata or {}).items():
            writer.add_string(key, value)
        for name in wanted:
            data = np.asarray(by_gguf_name[name], dtype=np.float32)
            if data.ndim < 2:
                writer.add_tensor(name, data)
            elif quant == "f16":
                writer.add_tensor(name, data.astype(np.float16))
            else:
                writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    atomic.write_file(target, write)
    return {"path": str(target), "architecture": arch, "tensors": len(wanted), "type": TYPES[quant]}


def _copy_metadata(reader: Any, writer: Any, skip: set[str]) -> None:
    """Every key-value pair of the base file but the header's and `skip`, with its type."""
    import gguf

    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in skip:
            continue
        vtype = field.types[0]
        sub_type = field.types[1] if vtype == gguf.GGUFValueType.ARRAY and len(field.types) > 1 else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub_type)
