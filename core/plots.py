"""The reports' plots as PNG bytes: grouped bars (scores and ratios) and confusion matrices."""

from __future__ import annotations

import io


def grouped_bars_png(
    labels: list[str], series: dict[str, list[float]], ylabel: str, rotation: int = 15
) -> bytes:
    """One group of bars per label, one bar per series, on a 0–1 axis (scores and ratios)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(labels) + 2), 3.5), dpi=120)
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        ax.bar([x + i * width for x in range(len(labels))], values, width, label=name)
    ticks = [x + width * (len(series) - 1) / 2 for x in range(len(labels))]
    ax.set_xticks(ticks, labels, rotation=rotation, ha="right" if rotation > 20 else "center")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.05)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def confusion_png(title: str, matrices: dict[str, dict]) -> bytes:
    """One heat map per model: rows are reference values, columns answered values, cells counts.

    Each matrix is `{"rows": [...], "columns": [...], "counts": [[...], ...]}`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(matrices.values()))
    width = max(4.0, 0.9 * len(first["columns"]) + 2)
    fig, axes = plt.subplots(
        1, len(matrices), figsize=(width * len(matrices), 0.6 * len(first["rows"]) + 2.2), dpi=120
    )
    axes = axes if len(matrices) > 1 else [axes]
    for ax, (name, matrix) in zip(axes, matrices.items(), strict=True):
        counts = matrix["counts"]
        top = max(1, max(max(row) for row in counts))
        ax.imshow(counts, cmap="Blues", vmin=0, vmax=top)
        ax.set_xticks(range(len(matrix["columns"])), matrix["columns"], rotation=30, ha="right")
        ax.set_yticks(range(len(matrix["rows"])), matrix["rows"])
        for i, row in enumerate(counts):
            for j, value in enumerate(row):
                shade = "white" if value > top / 2 else "black"
                ax.text(j, i, str(value), ha="center", va="center", fontsize=9, color=shade)
        ax.set_xlabel("answered")
        ax.set_ylabel("reference")
        ax.set_title(f"{title}: {name}")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
