"""Content models as data, the RDF mapping of items, and their validation.

```
from plastrond.models import Item, current_models, shared_cache, sparql_update, validate

models = await current_models(config.content_models.dir)
model = models.get("Item")                       # or models.detect(types) when exporting
item = Item.from_graph(graph, uri, model)        # fields, embedded objects, PCDM structure
result = await validate(item, shared_cache(models.vocabularies))
result.is_valid, result.reasons()                # "('title', 'failed', 'exactly', '1')"
result.messages()                                # {"title": "is required"} (PATCH /resources)
patch = sparql_update(old_graph, item.to_graph())  # never touches server-managed triples
```

The package imports neither the commands, the broker nor the jobs: commands use it.
"""

from .diff import delta, is_server_managed, sparql_update
from .edtf import edtf_level, is_edtf
from .mapping import (
    STRUCTURE,
    TIFF_TYPES,
    USAGE_TYPES,
    Embedded,
    Item,
    Value,
    file_graph,
    is_hash_of,
    page_graph,
    proxy_graph,
    proxy_order,
    usage_tags,
)
from .pages import page_title
from .registry import current_models
from .schema import (
    ContentModel,
    EmbeddedClass,
    Field,
    ModelError,
    ModelSet,
    Rule,
    UnknownModel,
    load_models,
)
from .sparql import SparqlError, apply_update, check_update
from .validation import (
    Outcome,
    ValidationResult,
    check,
    is_handle,
    is_iso639,
    prepare,
    validate,
    validation_errors,
)
from .vocabulary import VocabularyCache, VocabularyError, shared_cache

__all__ = [
    "STRUCTURE",
    "TIFF_TYPES",
    "USAGE_TYPES",
    "ContentModel",
    "Embedded",
    "EmbeddedClass",
    "Field",
    "Item",
    "ModelError",
    "ModelSet",
    "Outcome",
    "Rule",
    "SparqlError",
    "UnknownModel",
    "ValidationResult",
    "Value",
    "VocabularyCache",
    "VocabularyError",
    "apply_update",
    "check",
    "check_update",
    "current_models",
    "delta",
    "edtf_level",
    "file_graph",
    "is_edtf",
    "is_handle",
    "is_hash_of",
    "is_iso639",
    "is_server_managed",
    "load_models",
    "page_graph",
    "page_title",
    "prepare",
    "proxy_graph",
    "proxy_order",
    "shared_cache",
    "sparql_update",
    "usage_tags",
    "validate",
    "validation_errors",
]
