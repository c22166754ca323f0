"""Exports: items of the repository as a BagIt bag in one ZIP, written locally or over SFTP.

```
from plastrond.export import ExportOptions, ExportRun, TurtleMetadata, parse_destination

destination = parse_destination("sftp://archelon@host/exports/42", config.commands.export)
run = ExportRun(repository, lambda scratch: TurtleMetadata(scratch, prefixes), ExportOptions(), log)
await run.execute(uris, destination)
```

Layout of the ZIP (`<bag>` is the file's name without `.zip`):
```
<bag>/bagit.txt  bag-info.txt  manifest-sha256.txt  manifest-sha512.txt  tagmanifest-*.txt
<bag>/data/metadata.ttl                      (or <Model>_metadata.csv, one per model)
<bag>/data/<item uuid>/<filename>            (with export-binaries)
```

The package uses the repository client and the content models; the `export` command uses it.
"""

from .bag import ALGORITHMS, BagZipWriter, Digester, PayloadFile
from .destinations import (
    Destination,
    DestinationError,
    LocalDestination,
    SftpDestination,
    Sink,
    parse_destination,
    with_zip_suffix,
)
from .metadata import SYSTEM_COLUMNS, CsvMetadata, ItemRecord, MetadataWriter, TurtleMetadata
from .run import (
    ExportError,
    ExportOptions,
    ExportRun,
    ItemFailure,
    item_folder_name,
    mime_matches,
    safe_filename,
    uuid_of,
)

__all__ = [
    "ALGORITHMS",
    "SYSTEM_COLUMNS",
    "BagZipWriter",
    "CsvMetadata",
    "Destination",
    "DestinationError",
    "Digester",
    "ExportError",
    "ExportOptions",
    "ExportRun",
    "ItemFailure",
    "ItemRecord",
    "LocalDestination",
    "MetadataWriter",
    "PayloadFile",
    "SftpDestination",
    "Sink",
    "TurtleMetadata",
    "item_folder_name",
    "mime_matches",
    "parse_destination",
    "safe_filename",
    "uuid_of",
    "with_zip_suffix",
]
