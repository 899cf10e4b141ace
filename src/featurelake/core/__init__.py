"""Pure building blocks: specs, naming and records. Nothing here performs I/O."""
