#!/usr/bin/env bash
# Installs the carried wheels (.whl/, made here by bench/gpu_kit.sh) into /tmp/site on a GPU machine
# that has torch but no network, then prints what the benchmark will run with and fails early if
# dsforge's training code cannot import. Source it: `. bench/gpu_setup.sh`; the tokenizer is `.tok`.
# Wheels (py3.12, manylinux x86_64, about 23 MB): transformers 5.23.0, peft 0.21.2, trl 1.16.0,
# bitsandbytes 0.50.2 (CPU + CUDA 13.0 libraries), liger-kernel 0.8.5, datasets 5.2.0, dill 0.4.1,
# multiprocess 0.70.19, pydantic 2.14.4, pydantic_core 2.50.5, pydantic-settings 2.16.3,
# python-dotenv 1.2.4, annotated-types, typing-inspection, platformdirs.
# A machine still warm from the last call keeps /tmp/site: install only when the kit changed.
kit=$(cat .whl/*.whl | md5sum | cut -c1-32)
if [ "$(cat /tmp/site/.kit 2>/dev/null)" != "$kit" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || return 1
  echo "$kit" > /tmp/site/.kit
fi
export PYTHONPATH=/tmp/site HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft, trl, bitsandbytes, liger_kernel, datasets, huggingface_hub as h; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__, 'bnb', bitsandbytes.__version__, 'hub', h.__version__)"
python3 -c "import train.recipe, train.fused_lora, bench.qlora_gpu, bench.profile_step" || return 1
