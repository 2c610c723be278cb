"""The core layer: settings, public errors, LRU, concurrency slots, paging, the resources."""
