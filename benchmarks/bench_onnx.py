"""Throughput and memory of roonsbi's ONNX evaluation against onnxruntime on preloaded arrays.

    python benchmarks/bench_onnx.py [--events 1000000] [--models 10] [--hidden 64] [--chunk-size 100000]

Makes a ROOT file (TTree, --features float32 branches) and --models ONNX networks
(MLP: features -> hidden -> hidden -> 1, ReLU, log-ratio output), then times, each in a
fresh process (so that the peak resident memory of each is its own):

  (a) onnxruntime called directly: every network on the preloaded [N, d] float32 matrix
      (one call per network over all events; the file is read before the clock starts;
      sessions share one CPU arena, as roonsbi's do), with onnxruntime's default thread
      spinning and without it (roonsbi's setting);
  (b) roonsbi.inputs.columns.evaluate_columns from the ROOT file (loading the networks, reading,
      feature matrices, networks, checks, float32 columns), and from the same arrays in memory;
  (c) roonsbi streaming to a folder of .npy files (iter_columns -> write_columns) for several
      chunk sizes, and over the file listed twice (2N events): the peak memory follows the
      chunk size, not the number of events.

Prints the times, the ratio b/a (against the faster of the two baselines) and the peak RSS
(resource.getrusage ru_maxrss) above the
RSS after imports and network loading. Not run by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_inputs(folder: Path, n: int, d: int, n_models: int, hidden: int, seed: int = 1) -> None:
    import onnx
    import uproot
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    names = [f"f{j}" for j in range(d)]
    with uproot.recreate(str(folder / "events.root")) as f:
        f.mktree("events", dict.fromkeys(names, np.float32))
        step = 200_000
        for a in range(0, n, step):
            m = min(step, n - a)
            f["events"].extend({name: rng.normal(size=m).astype(np.float32) for name in names})
    for k in range(n_models):
        sizes = [d, hidden, hidden, 1]
        inits, nodes, x = [], [], "x"
        for layer, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
            w = (rng.normal(size=(i, o)) / np.sqrt(i)).astype(np.float32)
            b = (0.1 * rng.normal(size=o)).astype(np.float32)
            inits += [numpy_helper.from_array(w, f"W{layer}"), numpy_helper.from_array(b, f"b{layer}")]
            nodes += [helper.make_node("MatMul", [x, f"W{layer}"], [f"h{layer}"]),
                      helper.make_node("Add", [f"h{layer}", f"b{layer}"], [f"z{layer}"])]
            x = f"z{layer}"
            if o != 1:
                nodes.append(helper.make_node("Relu", [x], [f"a{layer}"]))
                x = f"a{layer}"
        nodes.append(helper.make_node("Mul", [x, "scale"], ["y"]))
        inits.append(numpy_helper.from_array(np.array([0.1], np.float32), "scale"))
        graph = helper.make_graph(nodes, f"mlp{k}", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", d])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        helper.set_model_props(model, {"feature_names": ",".join(names)})
        onnx.save(model, str(folder / f"net{k}.onnx"))


def child(mode: str, folder: Path, n_models: int, chunk_size: int, threads: int | None) -> dict:
    """One measurement in this process; returns seconds and memory numbers."""
    import onnxruntime as ort
    import uproot

    from roonsbi.inputs.column_files import write_columns
    from roonsbi.inputs.columns import evaluate_columns, iter_columns
    from roonsbi.inputs.networks import RatioModel

    nets = [folder / f"net{k}.onnx" for k in range(n_models)]
    spec = {f"r_P{k}": RatioModel(p, output="log_ratio") for k, p in enumerate(nets)}
    out: dict = {"mode": mode}
    if mode.startswith("direct"):
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or 0)
        if mode == "direct-nospin":  # roonsbi's setting
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # the same shared CPU arena as roonsbi: with one arena per session, 10 networks on 10^6
        # events would fault in ~10 GB and make the baseline slower than it need be
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))
        options.add_session_config_entry("session.use_env_allocators", "1")
        sessions = [ort.InferenceSession(str(p), sess_options=options, providers=["CPUExecutionProvider"])
                    for p in nets]
        for s in sessions:  # warm up
            s.run(None, {"x": np.zeros((16, s.get_inputs()[0].shape[1]), np.float32)})
        base = rss_mb()
        with uproot.open(str(folder / "events.root")) as f:
            arrays = f["events"].arrays(library="np")
        x = np.ascontiguousarray(np.column_stack([arrays[k] for k in sorted(arrays, key=lambda s: int(s[1:]))]),
                                 dtype=np.float32)
        del arrays
        start = time.perf_counter()
        outputs = [s.run(None, {"x": x})[0] for s in sessions]
        out["seconds"] = time.perf_counter() - start
        out["events"] = int(x.shape[0])
        out["check"] = float(np.exp(outputs[0][:, 0].astype(np.float64)).sum())
    else:
        # the clock includes what a user's call does: loading the networks (onnxruntime sessions),
        # reading (b from the file), building the feature matrices, running, checking, casting
        base = rss_mb()
        kwargs = {"chunk_size": chunk_size, "progress": False, "threads": threads, "spread": False}
        if mode == "roonsbi-arrays":
            with uproot.open(str(folder / "events.root")) as f:
                arrays = f["events"].arrays(library="np")
            start = time.perf_counter()
            cols = evaluate_columns(arrays, spec, **kwargs)
            out["seconds"] = time.perf_counter() - start
        elif mode == "roonsbi-file":
            start = time.perf_counter()
            cols = evaluate_columns(str(folder / "events.root"), spec, **kwargs)
            out["seconds"] = time.perf_counter() - start
        elif mode.startswith("roonsbi-stream"):
            files = [str(folder / "events.root")] * (2 if mode.endswith("x2") else 1)
            target = folder / f"columns_{mode}_{chunk_size}"
            start = time.perf_counter()
            write_columns(target, iter_columns(files, spec, **kwargs), overwrite=True)
            out["seconds"] = time.perf_counter() - start
            cols = None
            out["events"] = int(json.loads((target / "columns.json").read_text())["entries"])
        else:
            raise ValueError(mode)
        if cols is not None:
            out["events"] = int(len(cols["r_P0"]))
            out["check"] = float(cols["r_P0"].astype(np.float64).sum())
    out["base_rss_mb"] = base
    out["peak_rss_mb"] = rss_mb()
    return out


def run_child(args: argparse.Namespace, folder: Path, mode: str, chunk_size: int) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--dir", str(folder), "--models", str(args.models),
           "--chunk-size", str(chunk_size)] + (["--threads", str(args.threads)] if args.threads else [])
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(run.stderr)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: ORT's)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of (a) and (b); the best is kept")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.dir), args.models, args.chunk_size, args.threads)))
        return

    with tempfile.TemporaryDirectory(prefix="roonsbi-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        make_inputs(folder, args.events, args.features, args.models, args.hidden)
        size = (folder / "events.root").stat().st_size / 2**20
        print(f"inputs: {args.events} events x {args.features} float32 features (events.root, {size:.0f} MiB), "
              f"{args.models} MLPs {args.features}-{args.hidden}-{args.hidden}-1 "
              f"(made in {time.perf_counter() - t0:.1f} s)")
        print(f"cpu: {os.cpu_count()} logical cores; onnxruntime threads: {args.threads or 'default'}; "
              f"chunk size {args.chunk_size}\n")

        # (a) and (b) interleaved, the best of --repeat runs each (the machine may be shared)
        runs: dict[str, list[dict]] = {"direct": [], "direct-nospin": [], "roonsbi-arrays": [], "roonsbi-file": []}
        for _ in range(args.repeat):
            for mode in runs:
                runs[mode].append(run_child(args, folder, mode, args.chunk_size))
        a_default, a_nospin, b_arr, b_file = (min(runs[m], key=lambda r: r["seconds"]) for m in runs)
        a = min(a_default, a_nospin, key=lambda r: r["seconds"])  # the faster baseline
        rows = [("(a) onnxruntime direct, preloaded array, defaults", a_default),
                ("(a) same, without thread spinning (as roonsbi)", a_nospin),
                ("(b) roonsbi evaluate_columns, from arrays", b_arr),
                ("(b) roonsbi evaluate_columns, from the ROOT file", b_file)]
        print(f"{'':52s} {'time [s]':>9} {'evt/s':>10} {'b/a':>6} {'peak RSS - base [MiB]':>22}")
        for label, r in rows:
            print(f"{label:52s} {r['seconds']:9.2f} {r['events'] / r['seconds']:10.3g} "
                  f"{r['seconds'] / a['seconds']:6.2f} {r['peak_rss_mb'] - r['base_rss_mb']:22.0f}")
        for r in rows[2:]:
            assert abs(r[1]["check"] / a["check"] - 1) < 1e-5, "roonsbi and onnxruntime disagree"

        print("\n(c) streaming to .npy files (iter_columns -> write_columns), from the ROOT file:")
        print(f"{'chunk size':>12} {'events':>10} {'time [s]':>9} {'b/a':>6} {'peak RSS - base [MiB]':>22}")
        for chunk, mode in ((10_000, "roonsbi-stream"), (100_000, "roonsbi-stream"), (1_000_000, "roonsbi-stream"),
                            (100_000, "roonsbi-stream-x2")):
            r = run_child(args, folder, mode, chunk)
            scale = r["events"] / a["events"]
            print(f"{chunk:12d} {r['events']:10d} {r['seconds']:9.2f} {r['seconds'] / (a['seconds'] * scale):6.2f} "
                  f"{r['peak_rss_mb'] - r['base_rss_mb']:22.0f}")
        print("\n(b/a in (c) is per event; output columns are float32; peak RSS is the process maximum above the RSS "
              "after imports and network loading)")


if __name__ == "__main__":
    main()
