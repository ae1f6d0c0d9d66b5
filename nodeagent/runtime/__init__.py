"""The container engine behind one seam: the Runtime protocol and its Docker API implementation."""
