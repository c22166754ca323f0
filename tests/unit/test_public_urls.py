"""PUBLIC_URL_PATTERN (handles.md): its fields for a resource, and the configuration checks."""

from __future__ import annotations

import textwrap

import pytest

from plastrond.config import ConfigError, load_config
from plastrond.public_urls import PublicUrlError, check_pattern, fields_of, public_url

ROOT = "http://fcrepo.example/fcrepo/rest"
UUID = "abcdef12-3456-7890-abcd-ef1234567890"
ITEM = f"{ROOT}/pcdm/ab/cd/ef/12/{UUID}"


def test_fields_of_an_item():
    assert fields_of(ITEM, ROOT) == {
        "path": f"/pcdm/ab/cd/ef/12/{UUID}",
        "container_path": "/pcdm/ab/cd/ef/12",
        "relpath": "pcdm/ab/cd/ef/12",
        "uuid": UUID,
        "iiif_id": f"fcrepo:pcdm:ab:cd:ef:12:{UUID}",
    }


def test_every_field_in_one_pattern():
    pattern = "https://d.example/{relpath}|{container_path}|{path}|{uuid}|{iiif_id}"
    assert public_url(pattern, ITEM, ROOT) == (
        f"https://d.example/pcdm/ab/cd/ef/12|/pcdm/ab/cd/ef/12|/pcdm/ab/cd/ef/12/{UUID}|{UUID}|"
        f"fcrepo:pcdm:ab:cd:ef:12:{UUID}"
    )


def test_a_field_that_cannot_be_filled_is_one_line_for_that_resource():
    with pytest.raises(PublicUrlError, match="no UUID in its path") as caught:
        public_url("https://d.example/{uuid}", f"{ROOT}/{UUID}/plain", ROOT)
    assert "\n" not in str(caught.value)
    # Without {uuid}, the same resource is fine.
    assert public_url("https://d.example{path}", f"{ROOT}/{UUID}/plain", ROOT) == (
        f"https://d.example/{UUID}/plain"
    )


def test_unknown_fields_and_broken_patterns():
    check_pattern("https://d.example/{uuid}")
    for bad, fragment in (
        ("https://d.example/{id}", "unknown field id"),
        ("https://d.example/{uuid}/{pid}/{id}", "unknown fields pid, id"),
        ("https://d.example/{}", "must be named"),
        ("https://d.example/{uuid", "not a valid pattern"),
    ):
        with pytest.raises(PublicUrlError, match=fragment):
            check_pattern(bad)


BASE = """\
REPOSITORY:
  REST_ENDPOINT: http://repository:8080/fcrepo/rest
  RELPATH: /pcdm
  LOG_DIR: /var/log/plastron
"""


def load(tmp_path, section: str, environ=None):
    path = tmp_path / "plastrond.yml"
    path.write_text(BASE + textwrap.dedent(section))
    return load_config(path, environ=environ or {})


def test_publication_workflow_section(tmp_path):
    config = load(
        tmp_path,
        """\
        PUBLICATION_WORKFLOW:
          HANDLE_ENDPOINT: https://handle.example/api/v1/
          HANDLE_JWT_TOKEN: ${HANDLE_TOKEN}
          HANDLE_PREFIX: '1903.1'
          HANDLE_REPO: fcrepo
          PUBLIC_URL_PATTERN: https://digital.example/result/id/{uuid}
        """,
        {"HANDLE_TOKEN": "tok-123456"},
    )
    publication = config.publication
    assert publication.handles
    assert publication.handle_endpoint == "https://handle.example/api/v1"
    assert publication.handle_prefix == "1903.1"
    assert publication.handle_repo == "fcrepo"
    assert "tok-123456" in config.secrets()
    assert "tok-123456" not in repr(config)
    assert not config.warnings


def test_publication_workflow_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"PUBLIC_URL_PATTERN: .*unknown field pid") as caught:
        load(tmp_path, "PUBLICATION_WORKFLOW:\n  PUBLIC_URL_PATTERN: https://x/{pid}\n")
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="missing required key HANDLE_JWT_TOKEN"):
        load(
            tmp_path,
            """\
            PUBLICATION_WORKFLOW:
              HANDLE_ENDPOINT: https://handle.example/api/v1
              HANDLE_PREFIX: '1903.1'
              HANDLE_REPO: fcrepo
              PUBLIC_URL_PATTERN: https://x/{uuid}
            """,
        )
    # A pattern alone (for export's PUBLIC URI) needs no handle service.
    config = load(tmp_path, "PUBLICATION_WORKFLOW:\n  PUBLIC_URL_PATTERN: https://x/{uuid}\n")
    assert not config.publication.handles
    assert load(tmp_path, "").publication.public_url_pattern is None
