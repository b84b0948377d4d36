"""Printing a benchmark's table: Markdown (``--markdown``) or aligned plain text."""

from __future__ import annotations


def print_table(setting: str, header: list[str], lines: list[list[str]], markdown: bool) -> None:
    """``setting`` (what was measured), then the table: the first column left-aligned, the
    numbers right-aligned."""
    if markdown:
        print(setting + "\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
        for line in lines:
            print("| " + " | ".join(line) + " |")
        return
    print(setting)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    for line in [header, *lines]:
        cells = zip(line, widths)
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)))
