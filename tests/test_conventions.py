"""One convention for long work across the packages: ``progress`` and ``seed`` arguments.

Every public long-running entry point takes a keyword-only ``progress: bool | None = None``
(``None`` shows a bar only on a terminal outside CI, as ``accelerator_utils.progress`` decides),
and those that draw random numbers take ``seed`` (as an argument, or as a field of the validated
config dataclass they take) and leave the global generators alone.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import typing

import numpy as np
import pytest
import torch
import workspace

MODULES = [m.module for m in workspace.members().values()]

# (dotted path, draws random numbers). Dotted paths name module-level functions or class methods.
ENTRY_POINTS: dict[str, list[tuple[str, bool]]] = {
    "kron_mle": [
        ("kron_mle.fit", False),
        ("kron_mle.shrinkage_fit", False),
        ("kron_mle.separability_lrt", True),
        ("kron_mle.flipflop.flipflop", False),
        ("kron_mle.tensor.tensor_flipflop", False),
    ],
    "lowrank_compress": [
        ("lowrank_compress.compress", False),
        ("lowrank_compress.calibration.collect_statistics", False),
        ("lowrank_compress.calibration.collect_fisher", False),
        ("lowrank_compress.refit.refit_layers", False),
        ("lowrank_compress.fidelity.run_one", False),
        ("lowrank_compress.tucker_compress.compress_convs", False),
        ("lowrank_compress.codelm.train_bytelm", True),
    ],
    "gnn_explain": [
        ("gnn_explain.nn.train", True),
        ("gnn_explain.experiment.train_model", True),
        ("gnn_explain.experiment.fit_if_needed", True),
        ("gnn_explain.explain.PGExplainer.fit", True),
        ("gnn_explain.experiment.run_explainer", False),
    ],
    "gauss4d": [
        ("gauss4d.train.trainer.train", True),
        ("gauss4d.outputs.fly_around", False),
        ("gauss4d.evaluate.evaluate", False),
        ("gauss4d.data.synthetic.make_scene", True),
    ],
    "ssm_core": [
        ("ssm_core.tasks.train_task", True),
        ("ssm_core.bench.run_benchmarks", True),
        ("ssm_core.lm.MambaLM.generate", True),
    ],
    "interp_tools": [
        ("interp_tools.sae.train.train_sae", True),
        ("interp_tools.sae.distributed.train_sae_multiprocess", True),
        ("interp_tools.toy.induction.train_induction", True),
        ("interp_tools.toy.modular.train_modular_mlp", True),
        ("interp_tools.maxofk.train.train_maxofk", True),
        ("interp_tools.maxofk.brute_force.brute_force_accuracy", False),
        ("interp_tools.maxofk.brute_force.brute_force_accuracy_paths", False),
        ("interp_tools.patching.activation.activation_patching", False),
        ("interp_tools.interaction.basis.fit_lib", False),
    ],
}


def resolve(path: str) -> typing.Callable:
    """``pkg.mod.func`` or ``pkg.mod.Class.method``."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


def public_callables(package: str):
    """(qualified name, callable) for every public function and public method of public classes
    defined in ``package``'s modules (``__main__`` and private modules excluded)."""
    root = importlib.import_module(package)
    names = [package] + [
        info.name
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    for name in names:
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            if inspect.isfunction(obj):
                yield f"{name}.{attr}", obj
            elif inspect.isclass(obj):
                for meth_name, meth in vars(obj).items():
                    if not meth_name.startswith("_") and inspect.isfunction(meth):
                        yield f"{name}.{attr}.{meth_name}", meth


def config_has_seed(fn: typing.Callable) -> bool:
    """Whether one of ``fn``'s parameters is a dataclass config with a ``seed`` field."""
    hints = typing.get_type_hints(fn)
    for param in inspect.signature(fn).parameters.values():
        hint = hints.get(param.name)
        for candidate in typing.get_args(hint) or (hint,):
            if dataclasses.is_dataclass(candidate) and any(
                f.name == "seed" for f in dataclasses.fields(candidate)
            ):
                return True
    return False


@pytest.mark.parametrize("package", MODULES)
def test_progress_arguments_are_uniform(package):
    """No ``show_progress`` anywhere; every ``progress`` parameter is keyword-only, defaults to
    None (auto) and is typed ``bool | None``."""
    bad = []
    for qualname, fn in public_callables(package):
        params = inspect.signature(fn).parameters
        if "show_progress" in params:
            bad.append(f"{qualname}: rename show_progress to progress")
        p = params.get("progress")
        if p is None:
            continue
        hint = typing.get_type_hints(fn).get("progress")
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is not None:
            bad.append(f"{qualname}: progress must be keyword-only with default None")
        if hint != (bool | None):
            bad.append(f"{qualname}: progress must be typed bool | None, not {hint}")
    assert not bad, "\n".join(bad)


CASES = [(path, random) for paths in ENTRY_POINTS.values() for path, random in paths]


@pytest.mark.parametrize(("path", "random"), CASES, ids=[c[0] for c in CASES])
def test_long_running_entry_points_take_progress_and_seed(path, random):
    fn = resolve(path)
    params = inspect.signature(fn).parameters
    assert "progress" in params, f"{path} runs long and takes no progress argument"
    if random:
        assert "seed" in params or "generator" in params or config_has_seed(fn), (
            f"{path} draws random numbers but takes no seed (argument or config field)"
        )


def test_every_package_declares_its_entry_points():
    assert set(ENTRY_POINTS) == set(MODULES) - {"accelerator_utils"}
    empty = [name for name, paths in ENTRY_POINTS.items() if not paths]
    assert not empty, f"no long-running entry points listed for {empty}"


def test_seeded_runs_repeat_and_leave_global_generators_alone(tmp_path):
    """A few cheap seeded runs, one per package: same seed, same result (a run drawing from a
    global generator would differ the second time); torch's and NumPy's global generators
    untouched."""
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()  # noqa: NPY002
    for run in SEEDED_RUNS:
        assert torch.equal(run(tmp_path / "a"), run(tmp_path / "b")), run.__name__
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002


def _gauss4d_scene(tmp_path) -> torch.Tensor:
    from gauss4d.data.dnerf import load_dnerf
    from gauss4d.data.synthetic import SceneConfig, make_scene

    cfg = SceneConfig(width=8, height=8, n_train_times=4, n_test_times=2, n_val=1)
    root = make_scene(tmp_path, cfg, progress=False)
    return load_dnerf(root, "train", "white").images


def _kron_mle_null_statistics(tmp_path) -> torch.Tensor:
    import kron_mle

    Y = kron_mle.sample([torch.eye(2), torch.eye(2)], 12, seed=1)
    return kron_mle.separability_lrt(Y, n_mc=8, seed=3, progress=False).null_statistics


def _interp_tools_mlp(tmp_path) -> torch.Tensor:
    from interp_tools.toy.modular import ModularConfig, train_modular_mlp

    run = train_modular_mlp(ModularConfig(p=5, hidden=(8,)), steps=3, seed=1, progress=False)
    return run.model.linears[0].weight.detach()


SEEDED_RUNS = [_gauss4d_scene, _kron_mle_null_statistics, _interp_tools_mlp]
