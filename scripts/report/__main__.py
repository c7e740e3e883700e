"""`python -m scripts.report`: the command line in cli.py."""

from scripts.report.cli import main

raise SystemExit(main())
