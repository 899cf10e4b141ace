"""Side effects behind narrow adapters: raw objects, Delta tables."""
