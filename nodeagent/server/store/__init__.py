"""Storage of API objects with one global resourceVersion and watches."""
