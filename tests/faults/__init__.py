"""Fault injection: one fault at a time against real processes, invariants checked after."""
