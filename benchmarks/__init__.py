"""Benchmarks: accuracy on CLEF CheckThat! (checkthat.py) and speed/scale against peers (run.py).  Not part of make test."""
