#!/usr/bin/env bash
# Installs the carried wheels (.whl/) into /tmp/site on a GPU machine that has torch but no
# network, then prints what the benchmark will run with. Source it: `. bench/gpu_setup.sh`.
# Wheels (py3.12, manylinux x86_64, about 60 MB): transformers 5.23.0, peft 0.21.2, trl 1.16.0,
# bitsandbytes 0.50.2, liger-kernel 0.8.5, datasets 5.2.0, dill 0.4.1, multiprocess 0.70.19,
# pydantic 2.14.4, pydantic_core 2.50.5, annotated-types, typing-inspection, platformdirs.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || return 1
export PYTHONPATH=/tmp/site HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft, trl, bitsandbytes, liger_kernel, datasets, huggingface_hub as h; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__, 'bnb', bitsandbytes.__version__, 'hub', h.__version__)"
