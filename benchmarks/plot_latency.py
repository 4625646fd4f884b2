"""Plot latency against multiply-adds from a ``benchmarks/latency.py --json`` result.

    python benchmarks/latency.py --json > latency.json
    python benchmarks/plot_latency.py latency.json --out docs/images/micronet_latency.png

One line per implementation and runtime (median over rounds, bars for the min–max); needs
matplotlib (``pip install matplotlib``), which nothing else in the repository uses.
"""
import argparse
import json
import sys

LABELS = {"ppcls-deploy": "this project (export rewrite, stock operators)",
          "ppcls-fused": "this project (export rewrite, fused CPU operators)",
          "ppcls": "this project (as trained)", "paddleclas": "PaddleClas 2.6"}
STYLES = {"paddle_inference": "-", "onnxruntime": "--", "dygraph": ":", "paddle_inference_mkldnn": "-."}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", help="JSON file written by benchmarks/latency.py --json")
    parser.add_argument("--out", default="micronet_latency.png", help="PNG to write")
    return parser.parse_args(argv)


def load(path):
    """The result object: the last line of the file (earlier lines may be log output)."""
    with open(path) as handle:
        return json.loads(handle.read().strip().splitlines()[-1])


def series(rows):
    """``{(impl, backend): [(MMAdds, median, min, max, model), ...]}`` sorted by MAdds."""
    out = {}
    for row in rows:
        out.setdefault((row["impl"], row["backend"]), []).append(
            (row["madds"] / 1e6, row["median_ms"], row["min_ms"], row["max_ms"], row["model"]))
    return {key: sorted(points) for key, points in out.items()}


def plot(result, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("matplotlib is not installed: pip install matplotlib")
    fig, ax = plt.subplots(figsize=(11, 5))
    for (impl, backend), points in series(result["rows"]).items():
        x, median, low, high, _ = zip(*points)
        errors = [[m - lo for m, lo in zip(median, low)], [hi - m for m, hi in zip(median, high)]]
        ax.errorbar(x, median, yerr=errors, linestyle=STYLES.get(backend, "-"), marker="o", capsize=3,
                    label=f"{LABELS.get(impl, impl)}, {backend}")
    for madds, _, _, _, model in next(iter(series(result["rows"]).values())):
        ax.annotate(model.replace("MicroNet_", ""), (madds, 0), xytext=(0, 4), textcoords="offset points",
                    xycoords=("data", "axes fraction"), ha="center")
    settings = result["settings"]
    ax.set(xlabel="multiply-adds (millions)", ylabel="latency (ms, median of rounds)", yscale="log",
           title=f"MicroNet on the CPU: batch {settings['batch_size']}, {settings['image_size']}², "
                 f"{settings['threads']} thread(s), {settings['clock']} clock")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


def main(argv=None):
    args = parse_args(argv)
    plot(load(args.result), args.out)


if __name__ == "__main__":
    main()
