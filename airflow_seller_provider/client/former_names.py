"""Names this project renamed, kept importable with a DeprecationWarning.

A module lists its former names and their new targets and gets a module ``__getattr__``
(PEP 562) that warns, then returns the new object. Removal: a minor release after the
warning first shipped, said in the changelog."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any


def module_getattr(module: str, renamed: Mapping[str, tuple[str, Any]]) -> Callable[[str], Any]:
    """``renamed``: former name -> (new name, object)."""

    def __getattr__(name: str) -> Any:
        if name in renamed:
            new_name, target = renamed[name]
            warnings.warn(
                f"{module}.{name} is deprecated: use {module}.{new_name}",
                DeprecationWarning,
                stacklevel=2,
            )
            return target
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
