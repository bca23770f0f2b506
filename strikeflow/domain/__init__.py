"""Pure trading logic: no I/O, no frameworks; stdlib, numpy and scipy only."""
