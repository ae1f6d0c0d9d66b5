"""Controllers: pure decisions over the registry's objects, and the loops that apply them."""
