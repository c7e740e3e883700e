"""The accuracy report shared by PR comments, job summaries and the Release model card: `python -m scripts.report`.

render.py puts the document together from sections.py (Markdown tables) and charts.py (Mermaid and PNG),
validate.py checks the inputs, cli.py is the command line; this package exports what callers use.
"""

from scripts.report.cli import PR_NUMBER_FILE, build_parser, main
from scripts.report.render import MARKER, render_report, write_plots

__all__ = ["MARKER", "PR_NUMBER_FILE", "build_parser", "main", "render_report", "write_plots"]
