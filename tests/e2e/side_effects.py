"""A "stock source" a hostile run conf names: importing it or calling it leaves a mark in
the file ``ASP_SIDE_EFFECT_MARK`` names. The run-conf policy test checks the mark never
appears, so neither the import nor the call happened."""

from __future__ import annotations

import os
from pathlib import Path


def _mark(what: str) -> None:
    path = os.environ.get("ASP_SIDE_EFFECT_MARK")
    if path:
        with Path(path).open("a") as out:
            out.write(what + "\n")


_mark("imported")


def touch(skus: list[str]) -> dict[str, int]:
    _mark("called")
    return dict.fromkeys(skus, 0)  # "no stock": every item short
