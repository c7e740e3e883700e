"""The pipeline steps (python -m scripts.<step>), the libraries they share, the report and the demo."""
