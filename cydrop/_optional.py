"""Optional dependencies, imported in one place.

cydrop needs only NumPy at run time; torch is used, when it is importable,
by the demo (``python -m cydrop``) and the bench command.
"""
from types import ModuleType
from typing import Optional


def import_torch() -> Optional[ModuleType]:
    """The ``torch`` module, or None where it is not installed or does not
    import (a broken install raises OSError or RuntimeError, not only
    ImportError: any failure means "no torch")."""
    try:
        import torch
    except Exception:  # noqa: BLE001 - see the docstring
        return None
    return torch
