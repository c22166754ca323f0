"""What an imported item's pages are called.

Each group of files of an item (files with the same base name, `p001.tif` and `p001.jpg`)
becomes one page, titled by the model's `page_title_rule` (content-models.yml): `Page N` by
default; for an item whose format is `umdform:pool_reports`, a group whose name starts with
`body-` is titled `Body` and the others `Attachment N-1`.
"""

from __future__ import annotations

from typing import Final

from rdflib import URIRef

from .mapping import Item

__all__ = ["POOL_REPORTS", "page_title"]

POOL_REPORTS: Final = URIRef("http://vocab.lib.umd.edu/form#pool_reports")


def page_title(item: Item, group: str, number: int) -> str:
    """The title of the *number*-th page (1-based) of *item*, made of the file group *group*."""
    if "format" in item.model.field_names and POOL_REPORTS in item.values.get("format", []):
        return "Body" if group.startswith("body-") else f"Attachment {number - 1}"
    return f"Page {number}"
