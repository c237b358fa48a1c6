"""
Diagrams of the declared machines, built only from their `MachineModel`: DOT (via the
``graphviz`` package), Mermaid, SVG/PNG renders and the governance report.
"""
