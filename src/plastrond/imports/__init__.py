"""Importing metadata CSVs (and their files) into the repository: the `import` command's work.

- `layout`: the names inside an import job folder (shared with the http mode's reader).
- `jobdir`: writing job folders: config.yml, source.csv, the logs, one folder per run.
- `metadata`: the metadata CSV read through a content model (columns, cells, rows -> items).
- `binaries`: where the files come from (local folder, ZIP, SFTP, HTTP).
- `items`: a new item's pages, files and proxies, planned and written in one transaction.
- `run`: one run of a job: rows validated and imported concurrently, progress, completion.

`plastrond.commands.import_` turns a request into `run.ImportOptions` and drives `run.ImportRun`.
This package imports no module of the broker or the jobs runner; it is kept light to import
(the http mode imports `layout` only).
"""
