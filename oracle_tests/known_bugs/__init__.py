"""The known-bug library: realistic mistakes of from-scratch code, each a patch of the
reference with a one-line story and, for adapter pieces, a diagnosis sentence.

The diagnosis (oracle_tests/diagnosis.py) plants them in a private copy of the reference
to name what an implementation does; the mutant meta-tests (oracle_tests/mutants/) plant
them in the reference itself to prove the checks catch each one.
"""
