"""
Ledgers: the audit log now; order and position ledgers and durable stores build on it.
"""
