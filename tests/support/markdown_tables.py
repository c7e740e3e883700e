"""Reading Markdown tables that the steps write."""

from __future__ import annotations


def table_row(markdown: str, first_cell: str) -> list[str]:
    """The cells of the Markdown table row that starts with `first_cell`."""
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]
