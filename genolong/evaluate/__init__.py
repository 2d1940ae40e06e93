"""Evaluate annotations against a reference and against baselines: metrics, plots, report."""
