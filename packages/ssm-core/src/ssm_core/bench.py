"""The issue's benchmarks 1-4, side by side (accelerator_utils ``compare``), into a report.

1. SSD chunked (chunk 32/64/128) vs step recurrence, with error against a float64 reference.
2. S6 scan engines, forward and forward+backward, with peak memory (and ``mambapy`` if installed).
3. S4D convolution (FFT) vs recurrence.
4. Mamba LM decoding: step mode vs re-running the forward on the growing prefix.

Inputs are drawn on the CPU from the seeded generator and moved to ``device``; on CUDA the
timings synchronise the device, peak memory is ``torch.cuda.max_memory_allocated`` above the
inputs, and page faults (a CPU allocator matter) are not reported.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from accelerator_utils import (
    BenchmarkReport,
    PeakMemory,
    compare,
    in_fresh_process,
    limit_threads,
    make_generator,
    page_faults_per_call,
    resolve_device,
    synchronize,
    thread_info,
)
from accelerator_utils import progress as progress_bar
from ssm_core.lm import MambaLM, MambaLMConfig
from ssm_core.s4d import S4D, S4DConfig
from ssm_core.selective_scan import scan_chunked, scan_parallel, scan_ref
from ssm_core.ssd import ssd


@dataclass(frozen=True)
class BenchSizes:
    """Problem sizes; ``quick`` shrinks only what would take minutes (repeats, decode length)."""

    repeats: int = 5
    ssd_length: int = 4096
    scan_length: int = 4096
    s4d_length: int = 4096
    decode_prompt: int = 512
    decode_new: int = 512
    decode_baseline_new: int = 512


QUICK = BenchSizes(repeats=2, scan_length=1024, decode_new=128, decode_baseline_new=16)
FULL = BenchSizes()


def _relative_error(a: torch.Tensor, ref: torch.Tensor) -> float:
    return float((a.double() - ref).abs().max() / ref.abs().max())


def bench_ssd(
    report: BenchmarkReport, s: BenchSizes, gen: torch.Generator, device: torch.device
) -> None:
    b, L, h, p, n = 1, s.ssd_length, 8, 64, 64
    x = torch.randn(b, L, h, p, generator=gen)
    dt = torch.rand(b, L, h, generator=gen) * 0.1 + 0.01
    A = -(torch.rand(h, generator=gen) + 0.5)
    B, C = torch.randn(b, L, 1, n, generator=gen), torch.randn(b, L, 1, n, generator=gen)
    x, dt, A, B, C = (t.to(device) for t in (x, dt, A, B, C))
    ref = ssd(x.double(), dt.double(), A.double(), B.double(), C.double(), form="recurrent").y
    cands: dict[str, Callable] = {"recurrent": lambda: ssd(x, dt, A, B, C, form="recurrent")}
    for cs in (32, 64, 128):
        cands[f"chunked T={cs}"] = lambda cs=cs: ssd(x, dt, A, B, C, chunk_size=cs)
        err = _relative_error(ssd(x, dt, A, B, C, chunk_size=cs).y, ref)
        report.metric(
            f"SSD chunked T={cs} rel. error vs fp64", err, target="<= 1e-5", passed=err <= 1e-5
        )
    params = {"B": b, "L": L, "H": h, "P": p, "N": n, "dtype": "float32", "pass": "forward"}
    with torch.no_grad():
        c = report.add(
            compare(
                cands,
                title="SSD chunked vs recurrence",
                repeats=s.repeats,
                params=params,
                device=device,
            )
        )
        _report_faults(report, "SSD", cands, device)
    best = max(c.speedup(k) for k in cands if k != "recurrent")
    report.metric(
        "SSD best chunked speed-up over recurrence", best, "x", target=">= 10x", passed=best >= 10
    )


def _report_faults(
    report: BenchmarkReport, label: str, cands: dict[str, Callable], device: torch.device
) -> None:
    """Minor page faults per call of each candidate: where a timing depends on whether the
    allocator handed memory back to the kernel (see ``retain_freed_memory``). CPU only."""
    if device.type != "cpu":
        return
    for name, fn in cands.items():
        report.metric(f"{label} page faults per call, {name}", page_faults_per_call(fn, calls=2))


def _mambapy_scan() -> Callable | None:
    try:
        from mambapy.pscan import pscan
    except ImportError:
        return None

    def scan(x, delta, A, B, C, h0=None):
        dA = torch.exp(delta[..., None] * A)
        dBx = (delta * x)[..., None] * B[:, :, None, :]
        return torch.einsum("bldn,bln->bld", pscan(dA, dBx), C), None

    return scan


def _peak_worker(engine: str, shape: tuple[int, int, int, int]) -> int:
    """In a fresh process: build inputs, then peak RSS growth of one forward+backward."""
    torch.set_num_threads(1)
    b, L, d, n = shape
    gen = torch.Generator().manual_seed(0)
    leaves = [
        torch.randn(b, L, d, generator=gen),
        torch.rand(b, L, d, generator=gen) * 0.1 + 0.001,
        -torch.rand(d, n, generator=gen) - 0.5,
        torch.randn(b, L, n, generator=gen),
        torch.randn(b, L, n, generator=gen),
    ]
    leaves = [t.requires_grad_() for t in leaves]
    fn = {"reference loop": scan_ref, "chunked (ours)": scan_chunked}[engine]
    small = [t.detach()[:, :64].clone().requires_grad_() if t.ndim == 3 else t for t in leaves]
    fn(*small)[0].sum().backward()  # warm-up: page in kernels so they do not count as peak
    with PeakMemory() as pm:
        fn(*leaves)[0].sum().backward()
    return pm.delta_bytes


def _peak_cuda(fn: Callable, inputs: tuple[torch.Tensor, ...]) -> int:
    """Peak CUDA memory of one forward+backward of ``fn`` above what was allocated before it."""
    leaves = [t.clone().requires_grad_() for t in inputs]
    fn(*[t.detach()[:, :64].clone().requires_grad_() if t.ndim == 3 else t for t in leaves])[
        0
    ].sum().backward()  # warm-up
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn(*leaves)[0].sum().backward()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def bench_scan(
    report: BenchmarkReport, s: BenchSizes, gen: torch.Generator, device: torch.device
) -> None:
    b, L, d, n = 1, s.scan_length, 256, 16
    x = torch.randn(b, L, d, generator=gen)
    delta = torch.rand(b, L, d, generator=gen) * 0.1 + 0.001
    A = -torch.rand(d, n, generator=gen) - 0.5
    B, C = torch.randn(b, L, n, generator=gen), torch.randn(b, L, n, generator=gen)
    x, delta, A, B, C = (t.to(device) for t in (x, delta, A, B, C))
    engines = {
        "reference loop": scan_ref,
        "chunked (ours)": scan_chunked,
        "parallel scan (ours)": scan_parallel,
    }
    if (mp := _mambapy_scan()) is not None:
        engines["mambapy pscan"] = mp
    inputs = (x, delta, A, B, C)
    params = {"B": b, "L": L, "D": d, "N": n, "dtype": "float32"}

    def fwd_bwd(fn):
        leaves = [t.clone().requires_grad_() for t in inputs]
        fn(*leaves)[0].sum().backward()

    with torch.no_grad():
        fwd = report.add(
            compare(
                {k: (lambda f=f: f(*inputs)) for k, f in engines.items()},
                title="S6 scan forward",
                repeats=s.repeats,
                params={**params, "pass": "forward"},
                device=device,
            )
        )
    both = report.add(
        compare(
            {k: (lambda f=f: fwd_bwd(f)) for k, f in engines.items()},
            title="S6 scan forward+backward",
            repeats=s.repeats,
            params={**params, "pass": "fwd+bwd"},
            device=device,
        )
    )
    for c, tag in ((fwd, "forward"), (both, "fwd+bwd")):
        sp = c.speedup("chunked (ours)")
        report.metric(
            f"S6 chunked speed-up over reference loop ({tag})",
            sp,
            "x",
            target=">= 1.5x",
            passed=sp >= 1.5,
        )
        if "mambapy pscan" in engines:
            r = c.speedup("chunked (ours)") / c.speedup("mambapy pscan")
            report.metric(
                f"S6 chunked speed-up over mambapy pscan ({tag})",
                r,
                "x",
                target=">= 4x",
                passed=r >= 4,
            )
    engines_peak = ("reference loop", "chunked (ours)")
    if device.type == "cuda":
        peaks = {name: _peak_cuda(engines[name], inputs) for name in engines_peak}
        where = "torch.cuda.max_memory_allocated above the inputs"
    else:
        peaks = {name: in_fresh_process(_peak_worker, name, (b, L, d, n)) for name in engines_peak}
        where = "each engine in a fresh process (peak RSS above the level after building inputs)"
    for name, peak in peaks.items():
        report.metric(f"S6 fwd+bwd peak memory above inputs, {name}", peak / 2**20, "MiB")
    ratio = peaks["chunked (ours)"] / max(peaks["reference loop"], 1)
    report.metric(
        "S6 fwd+bwd peak memory, chunked / reference loop",
        ratio,
        target="<= 0.125",
        passed=ratio <= 0.125,
        anchor=where,
    )
    y64 = scan_ref(*(t.double() for t in inputs))[0]
    err = _relative_error(scan_chunked(*inputs)[0], y64)
    report.metric("S6 chunked fp32 rel. error vs fp64", err, target="<= 1e-5", passed=err <= 1e-5)


def bench_s4d(
    report: BenchmarkReport, s: BenchSizes, gen: torch.Generator, device: torch.device
) -> None:
    b, h, n, L = 8, 256, 64, s.s4d_length
    layer = S4D(S4DConfig(channels=h, d_state=n), generator=gen)
    first = S4D(S4DConfig(channels=h, d_state=n, transposed=True))
    first.load_state_dict(layer.state_dict())
    layer, first = layer.to(device), first.to(device)
    u = torch.randn(b, L, h, generator=gen).to(device)
    u_first = u.transpose(1, 2).contiguous()  # (B, H, L)
    cands = {
        "recurrence": lambda: layer(u, "recurrent"),
        "FFT convolution": lambda: layer(u, "conv"),
        "recurrence, (B, H, L)": lambda: first(u_first, "recurrent"),
        "FFT convolution, (B, H, L)": lambda: first(u_first, "conv"),
    }
    with torch.no_grad():
        c = report.add(
            compare(
                cands,
                title="S4D convolution vs recurrence",
                repeats=max(2, s.repeats - 2),
                params={"B": b, "H": h, "N": n, "L": L, "dtype": "float32"},
                device=device,
            )
        )
        _report_faults(report, "S4D", cands, device)
    for layout, suffix in (("(B, L, H)", ""), ("(B, H, L)", ", (B, H, L)")):
        report.metric(
            f"S4D FFT convolution speed-up over recurrence, both {layout}",
            c.speedup(f"FFT convolution{suffix}") / c.speedup(f"recurrence{suffix}"),
            "x",
        )
    best = {r.name: r.median_s for r in c.rows}
    sp = min(best["recurrence"], best["recurrence, (B, H, L)"]) / min(
        best["FFT convolution"], best["FFT convolution, (B, H, L)"]
    )
    report.metric(
        "S4D FFT convolution speed-up over recurrence (fastest of each)",
        sp,
        "x",
        target=">= 10x",
        passed=sp >= 10,
    )


def bench_decode(
    report: BenchmarkReport,
    s: BenchSizes,
    gen: torch.Generator,
    device: torch.device,
    *,
    progress: bool | None = None,
) -> None:
    with torch.random.fork_rng(devices=[]):  # nn.Linear initialisers use the global generator
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
        model = MambaLM(MambaLMConfig(vocab_size=256, d_model=256, n_layers=2)).eval()
    prompt = torch.randint(0, 256, (1, s.decode_prompt), generator=gen).to(device)
    model = model.to(device)
    with torch.no_grad():
        model.generate(prompt[:, :8], 4)  # warm-up (kernels, allocator)
        synchronize(device)
        t0 = time.perf_counter()
        out = model.generate(prompt, s.decode_new)
        synchronize(device)
        step_tps = s.decode_new / (time.perf_counter() - t0)
        seq = torch.cat([prompt, out.tokens], 1)
        t0 = time.perf_counter()
        bar = progress_bar(range(s.decode_baseline_new), desc="re-run forward", enabled=progress)
        for i in bar:
            model(seq[:, : s.decode_prompt + i])[:, -1]
        synchronize(device)
        rerun_tps = s.decode_baseline_new / (time.perf_counter() - t0)
        full = model(seq[:, :-1])[:, s.decode_prompt - 1 :]
    err32 = float((full - out.logits).abs().max() / full.abs().max())
    model64 = copy.deepcopy(model).double()
    with torch.no_grad():
        out64 = model64.generate(prompt, s.decode_new)
        full64 = model64(torch.cat([prompt, out64.tokens], 1)[:, :-1])[:, s.decode_prompt - 1 :]
    err64 = float((full64 - out64.logits).abs().max())
    report.metric("decode step-mode tokens/s", step_tps, "tok/s")
    report.metric(
        "decode re-run-forward tokens/s",
        rerun_tps,
        "tok/s",
        anchor=f"measured on the first {s.decode_baseline_new} of {s.decode_new} new tokens",
    )
    report.metric(
        "decode speed-up, step vs re-run",
        step_tps / rerun_tps,
        "x",
        target=">= 20x",
        passed=step_tps / rerun_tps >= 20,
    )
    report.metric(
        "decode max |logit diff| step vs forward (float64)",
        err64,
        target="<= 1e-5",
        passed=err64 <= 1e-5,
    )
    report.metric("decode max logit diff / max |logit| (float32)", err32)


def run_benchmarks(
    sizes: BenchSizes = QUICK,
    *,
    threads: int = 1,
    seed: int | None = 0,
    which: tuple[str, ...] = ("ssd", "scan", "s4d", "decode"),
    out: Path | None = None,
    name: str = "ssm-core",
    progress: bool | None = None,
    retain_memory: bool = False,
    device: torch.device | str = "cpu",
) -> BenchmarkReport:
    """Run the selected benchmarks with ``threads`` pinned on ``device``; returns the report.

    ``retain_memory`` first calls :func:`accelerator_utils.retain_freed_memory` (process-wide:
    glibc keeps freed blocks), so candidates that allocate per call or per step stop paying
    for page faults; the report records which allocator setting it ran with.

    ``seed`` fixes the generated inputs and models (``None``: fresh entropy); ``progress`` shows
    bars (``None``: only on a terminal outside CI).

    With ``out``, the report is (re)written after every benchmark, so a long run that is
    interrupted keeps what it measured.
    """
    gen = make_generator(seed)
    device = resolve_device(device)
    table = {"ssd": bench_ssd, "scan": bench_scan, "s4d": bench_s4d, "decode": bench_decode}
    unknown = set(which) - set(table)
    if unknown:
        raise ValueError(f"unknown benchmark(s) {sorted(unknown)}; choose from {sorted(table)}")
    with limit_threads(threads):
        report = BenchmarkReport("ssm-core")  # inside, so its header names the pinned threads
        report.metric("threads", threads, anchor=str(thread_info()))
        if device.type == "cuda":
            report.metric("device", device.index or 0, anchor=torch.cuda.get_device_name(device))
        report.use_allocator(retain_memory)
        for bench in progress_bar(which, desc="benchmarks", enabled=progress):
            if bench == "decode":
                bench_decode(report, sizes, gen, device, progress=progress)
            else:
                table[bench](report, sizes, gen, device)
            if out is not None:
                report.write(out, name)
    return report
