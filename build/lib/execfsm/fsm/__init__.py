"""
The declared machines, and what reads them (audit listener, extracted model).

Nothing here imports from stages, adapters or ledgers.
"""
