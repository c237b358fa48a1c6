"""
Venue adapters: the `OrderAdapter` protocol's implementations and the mode → adapter registry.
"""
