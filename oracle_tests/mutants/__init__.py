"""The curated mutant catalogue: realistic bugs, applied by monkeypatching at test time.

core.py holds the registry and the patcher, bugs_*.py the mutants, catalogue.py the
complete CATALOGUE, plugin.py the pytest plugin that applies one mutant, and runner.py
runs the selections of many mutants in parallel subprocesses (used by test_mutants.py).
"""
