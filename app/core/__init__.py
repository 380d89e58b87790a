"""The domain and its I/O: everything Plan Runner does, without Qt."""
