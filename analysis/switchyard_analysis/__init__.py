"""Switchyard analysis: load results (results), statistics (stats), figures (plots, style), report, comparison."""
