#!/usr/bin/env bash
# Builds here (with the package registry) what a GPU benchmark machine without network needs, in
# .whl/ (wheels) and .tok/ (a chat tokenizer), both git-ignored; carry them with the call, then
# `. bench/gpu_setup.sh` there. bitsandbytes is slimmed to its CPU and CUDA 13.0 libraries (the
# machine's torch is cu130), which keeps the kit near 26 MB instead of 64.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
grep -qx '/.tok/' .git/info/exclude 2>/dev/null || echo /.tok/ >> .git/info/exclude
rm -rf .whl && mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl \
  transformers==5.23.0 peft==0.21.2 trl==1.16.0 bitsandbytes==0.50.2 liger-kernel==0.8.5 datasets==5.2.0 \
  dill==0.4.1 multiprocess==0.70.19 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types typing-inspection \
  platformdirs pydantic-settings==2.16.3 python-dotenv==1.2.4
work=$(mktemp -d)
(cd "$work" && unzip -q "$OLDPWD"/.whl/bitsandbytes-*.whl \
  && find bitsandbytes -name 'libbitsandbytes_*.so' ! -name '*_cpu.so' ! -name '*_cuda130.so' -delete)
name=$(basename .whl/bitsandbytes-*.whl)
rm .whl/bitsandbytes-*.whl
(cd "$work" && zip -q -r "$OLDPWD/.whl/$name" .)
rm -rf "$work"
# The tokenizer of the packaged SmolLM2 (any chat tokenizer under 151 936 tokens serves).
model=$(.venv/bin/python -c "from pathlib import Path; from train.base_models import resolve_base_model as r; print(r('smollm2-135m', Path('.')).path)" 2>/dev/null || true)
if [ -z "$model" ]; then model=$(ls -d ~/.cache/dsforge/models/hf/smollm2-135m-* | head -1); fi
rm -rf .tok && mkdir -p .tok
cp "$model"/{tokenizer.json,tokenizer_config.json,config.json} .tok/
[ -f "$model/chat_template.jinja" ] && cp "$model/chat_template.jinja" .tok/
du -sh .whl .tok
