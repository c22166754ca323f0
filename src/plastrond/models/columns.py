"""The metadata CSV's system columns: those that are not fields of a content model.

An export writes `SYSTEM_COLUMNS` after the model's columns, in this order; an import reads
`IMPORT_COLUMNS` (the same and `CREATE_PAGES`, which only an import takes) beside the
model's. What each means is in `import-export.md` and the README's "Content models and the
metadata CSV".
"""

from __future__ import annotations

from typing import Final

__all__ = ["IMPORT_COLUMNS", "SYSTEM_COLUMNS"]

#: the columns of a metadata CSV that are not fields of a model, in the order an export
#: writes them
SYSTEM_COLUMNS: Final = (
    "URI",
    "PUBLIC URI",
    "CREATED",
    "MODIFIED",
    "INDEX",
    "FILES",
    "ITEM_FILES",
    "PUBLISH",
    "HIDDEN",
)
#: the columns an import reads that are not fields of a model
IMPORT_COLUMNS: Final = (*SYSTEM_COLUMNS, "CREATE_PAGES")
