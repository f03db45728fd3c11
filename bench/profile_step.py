"""Where one training step goes: torch.profiler over one optimiser step, baseline and dsforge.

    python bench/profile_step.py --tokenizer DIR [--archs qwen2.5-0.5b,qwen2.5-1.5b]
        [--policies baseline-qlora,dsforge-same-nopack,dsforge-same] [--check-packing]

Each run is bench/qlora_gpu.py's (same data, same processes) with a profiler on the
step after the warm-up. Per step: wall time, the share of it the GPU runs no kernel
(idle), kernels launched, and the top ops by self CUDA and by self CPU time.
`--check-packing` first checks on the GPU that varlen packed attention gives each
record the logits it has alone (the CPU test covers the SDPA path).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from transformers import TrainerCallback  # noqa: E402

LAUNCH_NAMES = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx",
                "cudaGraphLaunch", "cudaLaunchCooperativeKernel")  # fmt: skip


class OneStepCallback(TrainerCallback):
    """Measures optimiser step `at_step` (0-based) and keeps a summary of it under `result_key`."""

    result_key = ""

    def __init__(self, at_step: int, top: int) -> None:
        self.at_step, self.top = at_step, top
        self.summary: dict[str, Any] = {}
        self._step = 0
        self._start = 0.0
        self._active = False

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self._step == self.at_step:
            self._begin()
            self._start = time.perf_counter()
            self._active = True

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self._step == self.at_step and self._active:
            self.summary = self._end(self._start)
            self._active = False
        self._step += 1

    def _begin(self) -> None:
        raise NotImplementedError

    def _end(self, start: float) -> dict[str, Any]:
        raise NotImplementedError


class StepProfiler(OneStepCallback):
    """torch.profiler over one optimiser step: GPU idle share, kernels, top ops."""

    result_key = "profile"

    def __init__(self, at_step: int, top: int = 12) -> None:
        super().__init__(at_step, top)
        self._prof: Any = None

    def _begin(self) -> None:
        import torch
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU]
        if torch.cuda.is_available():
            torch.cuda.synchronize()
            activities.append(ProfilerActivity.CUDA)
        self._prof = profile(activities=activities)
        self._prof.__enter__()

    def _end(self, start: float) -> dict[str, Any]:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
        self._prof.__exit__(None, None, None)
        return summarise_profile(self._prof, wall, self.top)


class StepPythonProfile(OneStepCallback):
    """cProfile over one optimiser step: where the host's time goes when the GPU waits for it.

    `item`/`synchronize` time is the host waiting for the GPU; the rest is Python and launch work.
    """

    result_key = "python_profile"

    def __init__(self, at_step: int, top: int = 25, dump_to: Path | None = None) -> None:
        super().__init__(at_step, top)
        self.dump_to = dump_to
        self._prof: Any = None

    def _begin(self) -> None:
        import cProfile

        self._prof = cProfile.Profile()
        self._prof.enable()

    def _end(self, start: float) -> dict[str, Any]:
        self._prof.disable()
        wall = time.perf_counter() - start
        if self.dump_to is not None:  # the whole profile, for `python -m pstats` (callers included)
            self.dump_to.parent.mkdir(parents=True, exist_ok=True)
            self._prof.dump_stats(self.dump_to)
        return summarise_python_profile(self._prof, wall, self.top)


def summarise_python_profile(prof: Any, wall_s: float, top: int) -> dict[str, Any]:
    import pstats

    stats = pstats.Stats(prof).stats  # (file, line, name) -> (calls, prim calls, tottime, cumtime, callers)

    def where(key: tuple[str, int, str]) -> str:
        file, line, name = key
        parts = Path(file).parts
        short = "/".join(parts[-2:]) if len(parts) > 1 else file
        return f"{short}:{line}:{name}"[-110:]

    def ranked(index: int) -> list[dict[str, Any]]:
        rows = sorted(stats.items(), key=lambda kv: kv[1][index], reverse=True)[:top]
        return [{"fn": where(k), "ms": round(v[index] * 1e3, 1), "calls": v[0]} for k, v in rows]

    return {"wall_ms": round(wall_s * 1e3, 1), "function_calls": sum(v[0] for v in stats.values()),
            "top_self": ranked(2), "top_cumulative": ranked(3)}  # fmt: skip


def summarise_profile(prof: Any, wall_s: float, top: int) -> dict[str, Any]:
    events = prof.events()
    kernels = [e for e in events if _is_device(e)]
    launches = sum(1 for e in events if e.name in LAUNCH_NAMES)
    spans = sorted((e.time_range.start, e.time_range.end) for e in kernels)
    busy, cur_s, cur_e = 0.0, None, None
    for s, e in spans:
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                busy += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        busy += cur_e - cur_s
    kernel_us = sum(e - s for s, e in spans)
    averages = prof.key_averages()

    def ranked(attr: str) -> list[dict[str, Any]]:
        rows = sorted(averages, key=lambda a: getattr(a, attr, 0) or 0, reverse=True)[:top]
        return [{"op": a.key[:90], "ms": round((getattr(a, attr, 0) or 0) / 1e3, 2), "calls": a.count} for a in rows]

    device_attr = "self_device_time_total" if hasattr(averages[0], "self_device_time_total") else "self_cuda_time_total"
    if not kernels:  # a CPU-only smoke run
        device_attr = "self_cpu_time_total"
    return {
        "wall_ms": round(wall_s * 1e3, 1),
        "gpu_busy_ms": round(busy / 1e3, 1),
        "gpu_idle_share": round(max(0.0, 1 - busy / 1e6 / wall_s), 3),
        "kernels": len(kernels),
        "launches": launches,
        "mean_kernel_us": round(kernel_us / max(len(kernels), 1), 1),
        "top_cuda": ranked(device_attr),
        "top_cpu": ranked("self_cpu_time_total"),
    }


def _is_device(event: Any) -> bool:
    kind = getattr(event, "device_type", None)
    return kind is not None and str(kind).endswith("CUDA")


def check_packing(arch: str, base: Path) -> dict[str, Any]:
    """bf16 on the GPU: a record's logits in a pack (the attention train/packing.py picks for this
    architecture) against the record alone under transformers' own eager attention, and a backward pass.

    The floor is the same record alone under the packed model's attention: bf16 kernels differ by that
    much before any packing. Records longer than the base's sliding window show whether it was kept:
    `relative_difference_without_window` is how far the logits move when the window is dropped.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from train.loading import Hardware
    from train.packing import attention_implementation, sliding_window

    config = AutoConfig.from_pretrained(base, trust_remote_code=False)
    choice = attention_implementation(True, Hardware("cuda", torch.bfloat16, "gpu"), config)

    def load(attention: str, **overrides: Any) -> Any:
        loaded = AutoConfig.from_pretrained(base, trust_remote_code=False)
        for key, value in overrides.items():
            setattr(loaded, key, value)
        return AutoModelForCausalLM.from_pretrained(base, config=loaded, dtype=torch.bfloat16, attn_implementation=attention,
                                                    device_map={"": 0}, trust_remote_code=False)  # fmt: skip

    model, reference = load(choice.implementation), load("eager")
    torch.manual_seed(0)
    lengths = [37, 300, 5, 700, 128]
    ids = torch.randint(0, 1000, (1, sum(lengths)), device="cuda")
    pos = torch.cat([torch.arange(n) for n in lengths])[None].cuda()
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device="cuda")
    packed_kwargs = {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": max(lengths), "max_length_k": max(lengths)}

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return ((a - b).norm() / b.norm()).item()

    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=pos, **packed_kwargs).logits[0].float()
        errors, floors = [], []
        for s, e in zip(cu[:-1].tolist(), cu[1:].tolist()):
            alone = reference(input_ids=ids[:, s:e]).logits[0].float()
            one = torch.tensor([0, e - s], dtype=torch.int32, device="cuda")
            alone_same = model(input_ids=ids[:, s:e], position_ids=pos[:, s:e], cu_seq_lens_q=one, cu_seq_lens_k=one,
                               max_length_q=e - s, max_length_k=e - s).logits[0].float()  # fmt: skip
            errors.append(rel(packed[s:e], alone))
            floors.append(rel(alone_same, alone))
        # without per-record attention, a record after the first attends to the ones before it
        leaky = model(input_ids=ids, position_ids=torch.arange(ids.shape[1], device="cuda")[None]).logits[0].float()
        s, e = cu[1].item(), cu[2].item()
        leak = rel(leaky[s:e], packed[s:e])
        window = sliding_window(config)
        without_window = None
        if window:
            s, e = cu[3].item(), cu[4].item()  # the 700-token record
            unbounded = load("eager", sliding_window=100_000)(input_ids=ids[:, s:e]).logits[0].float()
            without_window = round(rel(unbounded, packed[s:e]), 4)
    model.train()
    out = model(input_ids=ids, position_ids=pos, labels=ids, **packed_kwargs)
    out.loss.backward()
    grads = [p.grad for p in model.model.layers[0].parameters() if p.grad is not None]
    return {"arch": arch, "attention": choice.implementation, "reason": choice.reason, "records": lengths,
            "sliding_window": window, "softcap": getattr(config, "attn_logit_softcapping", None),
            "relative_error_packed_vs_eager_alone": [round(x, 5) for x in errors],
            "relative_error_floor_same_attention_alone": [round(x, 5) for x in floors],
            "relative_difference_with_cross_record_attention": round(leak, 4),
            "relative_difference_without_window": without_window,
            "backward_finite": bool(grads and all(torch.isfinite(g).all() for g in grads))}  # fmt: skip


def main() -> None:
    import argparse

    from bench import qlora_gpu

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--archs", default="qwen2.5-0.5b,qwen2.5-1.5b")
    parser.add_argument("--policies", default="baseline-qlora,dsforge-same-nopack,dsforge-same")
    parser.add_argument("--steps", default="1")
    parser.add_argument("--repeats", default="1")
    parser.add_argument("--data", default="fixed")
    parser.add_argument("--deadline-s", default="1e9")
    parser.add_argument("--run-timeout-s", default="240")
    parser.add_argument("--check-packing", action="store_true")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dsforge-bench"))
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    checks = []
    if args.check_packing:
        arch = args.archs.split(",")[0]
        checks.append(check_packing(arch, qlora_gpu.make_random_base(arch, args.tokenizer, args.work / arch)))
        print(json.dumps(checks[-1]), flush=True)
    argv = ["--tokenizer", str(args.tokenizer), "--archs", args.archs, "--policies", args.policies,
            "--steps", args.steps, "--warmup", "3", "--repeats", args.repeats, "--profile", "--work", str(args.work),
            "--data", args.data, "--deadline-s", args.deadline_s, "--run-timeout-s", args.run_timeout_s,
            "--results", str(args.results)]  # fmt: skip
    sys.argv = [str(REPO / "bench" / "qlora_gpu.py"), *argv]
    runs = qlora_gpu.main(return_runs=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"profile_step-{stamp}.json").write_text(json.dumps({"packing_check": checks, "runs": runs}, indent=2))
    print_profile(runs)


def print_profile(runs: list[dict[str, Any]]) -> None:
    print("| arch | policy | step ms | GPU busy ms | GPU idle | kernels | launches | mean kernel µs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        p = r.get("profile")
        if not isinstance(p, dict) or not p:
            print(f"| {r['arch']} | {r['policy']} | {r.get('error', 'no profile')} |")
            continue
        print(f"| {r['arch']} | {r['policy']} | {p['wall_ms']} | {p['gpu_busy_ms']} | {p['gpu_idle_share']:.0%} | "
              f"{p['kernels']} | {p['launches']} | {p['mean_kernel_us']} |")  # fmt: skip
    for r in runs:
        p = r.get("profile")
        if isinstance(p, dict) and p:
            print(f"\n{r['arch']} {r['policy']}: top by self CUDA ms: "
                  + "; ".join(f"{t['op']} {t['ms']} ({t['calls']})" for t in p["top_cuda"][:8]))
            print(f"{r['arch']} {r['policy']}: top by self CPU ms: "
                  + "; ".join(f"{t['op']} {t['ms']} ({t['calls']})" for t in p["top_cpu"][:8]))


if __name__ == "__main__":
    main()
