"""The core layer: settings, public errors, LRU, concurrency slots, paging types, the app's resources."""
