"""Importing metadata CSVs (and their files) into the repository: the `import` command's work.

- `metadata`: the metadata CSV read through a content model (columns, cells, rows -> items).
- `binaries`: where the files come from (local folder, ZIP, SFTP, HTTP).
- `items`: a new item's pages, files and proxies, planned and written in one transaction.
- `run`: one run of a job: rows validated and imported concurrently, progress, completion.

`plastrond.commands.import_` turns a request into `run.ImportOptions` and drives `run.ImportRun`.
This package imports no module of the broker or the jobs runner; the job folders it writes
are `plastrond.jobfolders`'.
"""
