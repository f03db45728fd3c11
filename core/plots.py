"""Grouped bar charts as PNG bytes: the one plot shape the reports draw."""

from __future__ import annotations

import io


def grouped_bars_png(labels: list[str], series: dict[str, list[float]], ylabel: str, rotation: int = 15) -> bytes:
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
