"""mutmut mutants of reference/ that no test can kill, each with the reason.

Keyed by mutmut's mutant name (it names the function and numbers the mutation, so
the keys hold for one version of the code: mutmut_score.py lists keys that no longer
exist as `equivalents_not_in_this_run`). SURVIVORS.md explains the groups.
"""

EQUIVALENT: dict[str, str] = {}
