"""The pipeline steps, one module each: python -m scripts.<step> (gate, deploy, ...)."""
