"""Loading the YAML configuration: values, defaults, substitution and one-line errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import attrs
import pytest

from plastrond.config import (
    AdminConfig,
    BrokerAddress,
    BrokerConfig,
    ConfigError,
    ContentModelsConfig,
    ExportConfig,
    HttpServerConfig,
    ImportConfig,
    PublicationConfig,
    RepositoryConfig,
    SolrConfig,
    UpdateConfig,
    load_config,
    substitute,
)

REPO_DIR = Path(__file__).resolve().parents[2]

MINIMAL = """\
REPOSITORY:
  REST_ENDPOINT: http://repository:8080/fcrepo/rest
  RELPATH: /pcdm
  LOG_DIR: /var/log/plastron
MESSAGE_BROKER:
  SERVER: activemq:61613
  MESSAGE_STORE_DIR: /var/opt/plastron/msg
  DESTINATIONS:
    JOBS: /queue/plastron.jobs
    JOB_PROGRESS: /topic/plastron.jobs.progress
    JOB_STATUS: /queue/plastron.jobs.status
    SYNCHRONOUS_JOBS: /queue/plastron.jobs.synchronous
"""


def write(tmp_path: Path, text: str, name: str = "plastrond.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={} if environ is None else environ)
    message = str(caught.value)
    assert "\n" not in message, "config errors are one line"
    return message


def test_deployment_template_loads_with_every_documented_key():
    config = load_config(
        REPO_DIR / "docker-plastron-template.yml", environ={"JWT_SECRET": "c2VjcmV0"}
    )
    repo = config.repository
    assert repo.rest_endpoint == "http://repository:8080/fcrepo/rest"
    assert repo.repo_external_url == "http://fcrepo-local:8080/fcrepo/rest"
    assert repo.relpath == "/pcdm"
    assert repo.jwt_secret == "c2VjcmV0"
    assert repo.log_dir == Path("/var/log/plastron")
    broker = config.require_broker()
    assert broker.servers == (BrokerAddress("activemq", 61613),)
    assert broker.message_store_dir == Path("/var/opt/plastron/msg")
    assert broker.destinations.jobs == "/queue/plastron.jobs"
    assert broker.destinations.job_progress == "/topic/plastron.jobs.progress"
    assert broker.destinations.job_status == "/queue/plastron.jobs.status"
    assert broker.destinations.synchronous_jobs == "/queue/plastron.jobs.synchronous"
    assert broker.destinations.reindexing == "/queue/reindex"
    assert config.commands.export.ssh_private_key == Path("/etc/plastron/auth/archelon_id")
    assert config.commands.import_.jobs_dir == Path("/var/opt/plastron/jobs")
    assert config.http_server.host == "0.0.0.0"
    assert config.http_server.port == 5000
    assert config.warnings == ()


def test_new_keys_have_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    broker = config.require_broker()
    assert broker.heartbeat_send_ms > 0 and broker.heartbeat_receive_ms > 0
    assert broker.max_concurrent_jobs >= 1 and broker.max_concurrent_sync_jobs >= 1
    assert broker.prefetch >= 1
    assert 0 < broker.reconnect_initial_delay <= broker.reconnect_max_delay
    assert broker.login is None and broker.passcode is None and broker.use_tls is False
    assert config.http_server.port == 5000 and config.http_server.host == "0.0.0.0"
    assert config.commands.export.allowed_output_dirs == ()
    assert config.commands.import_.jobs_dir is None
    assert config.repository.transaction_style == "auto"


def test_config_values_are_immutable(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.repository.relpath = "/elsewhere"  # type: ignore[misc]


def test_new_keys_are_read(tmp_path):
    path = write(
        tmp_path,
        MINIMAL.replace("SERVER: activemq:61613", "SERVER: [mq1:61613, 'mq2:61614']")
        + "  LOGIN: plastron\n  PASSCODE: hunter22\n  MAX_CONCURRENT_JOBS: 8\n"
        "  HEARTBEAT_SEND_MS: 0\n  USE_TLS: 'true'\n"
        "COMMANDS:\n  EXPORT:\n    ALLOWED_OUTPUT_DIRS: [/srv/exports, /tmp/out]\n"
        "HTTP_SERVER:\n  PORT: '8000'\n",
    )
    config = load_config(path, environ={})
    broker = config.require_broker()
    assert broker.servers == (BrokerAddress("mq1", 61613), BrokerAddress("mq2", 61614))
    assert broker.login == "plastron" and broker.passcode == "hunter22"
    assert broker.max_concurrent_jobs == 8
    assert broker.heartbeat_send_ms == 0
    assert broker.use_tls is True
    assert config.commands.export.allowed_output_dirs == (Path("/srv/exports"), Path("/tmp/out"))
    assert config.http_server.port == 8000


def test_comma_separated_servers_for_failover(tmp_path):
    path = write(tmp_path, MINIMAL.replace("activemq:61613", "a:1, b:2"))
    broker = load_config(path, environ={}).require_broker()
    assert [str(s) for s in broker.servers] == ["a:1", "b:2"]


def test_secrets_are_not_in_the_repr(tmp_path):
    path = write(
        tmp_path,
        MINIMAL.replace(
            "  LOG_DIR:", "  FEDORA_PASSWORD: pw-123456\n  JWT_SECRET: jwt-abcdef\n  LOG_DIR:"
        )
        + "  PASSCODE: broker-secret\n",
    )
    config = load_config(path, environ={})
    text = repr(config)
    for secret in ("pw-123456", "jwt-abcdef", "broker-secret"):
        assert secret not in text
        assert secret in config.secrets()


# ${VAR} substitution ----------------------------------------------------------------------


def test_variables_are_substituted(tmp_path):
    path = write(
        tmp_path,
        MINIMAL.replace("activemq:61613", "${MQ_HOST}:${MQ_PORT:-61613}").replace(
            "/var/log/plastron", "${LOGS:-/tmp/logs}/plastron"
        ),
    )
    config = load_config(path, environ={"MQ_HOST": "broker.example", "LOGS": ""})
    assert config.require_broker().servers == (BrokerAddress("broker.example", 61613),)
    # An empty variable takes the default, as in a shell.
    assert config.repository.log_dir == Path("/tmp/logs/plastron")


def test_unset_variable_names_the_variable_and_key(tmp_path):
    path = write(tmp_path, MINIMAL.replace("/pcdm", "${PCDM_ROOT}"))
    message = error_of(path)
    assert "PCDM_ROOT" in message
    assert "REPOSITORY.RELPATH" in message
    assert str(path) in message


def test_substitute_rules():
    env = {"A": "1", "EMPTY": ""}
    assert substitute("x${A}y", env, "here") == "x1y"
    assert substitute("${B:-two}", env, "here") == "two"
    assert substitute("${EMPTY:-d}", env, "here") == "d"
    assert substitute("${EMPTY}", env, "here") == ""
    assert substitute("$$A and $${A}", env, "here") == "$A and ${A}"
    assert substitute("no variables", env, "here") == "no variables"
    assert substitute("${A:-}", {}, "here") == ""
    with pytest.raises(ConfigError, match="here: environment variable B is not set"):
        substitute("${B}", env, "here")


# errors -------------------------------------------------------------------------------------


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "nowhere.yml"
    message = error_of(missing)
    assert str(missing) in message and "not found" in message


def test_yaml_syntax_error_gives_file_and_line(tmp_path):
    path = write(tmp_path, MINIMAL + "COMMANDS:\n  IMPORT: [unclosed\n  EXPORT: x\n")
    message = error_of(path)
    assert message.startswith(f"{path}:")
    # MINIMAL has 12 lines; the flow sequence opened on line 14 breaks on line 15.
    assert message.split(":")[1] == "15", message
    assert "YAML syntax error" in message


def test_tab_indentation_is_a_syntax_error_with_line(tmp_path):
    path = write(tmp_path, "REPOSITORY:\n\tREST_ENDPOINT: x\n")
    message = error_of(path)
    assert message.startswith(f"{path}:2: YAML syntax error")


@pytest.mark.parametrize(
    ("remove", "section", "key"),
    [
        ("  REST_ENDPOINT: http://repository:8080/fcrepo/rest\n", "REPOSITORY", "REST_ENDPOINT"),
        ("  LOG_DIR: /var/log/plastron\n", "REPOSITORY", "LOG_DIR"),
        ("  SERVER: activemq:61613\n", "MESSAGE_BROKER", "SERVER"),
        ("  MESSAGE_STORE_DIR: /var/opt/plastron/msg\n", "MESSAGE_BROKER", "MESSAGE_STORE_DIR"),
        ("    JOBS: /queue/plastron.jobs\n", "MESSAGE_BROKER.DESTINATIONS", "JOBS"),
        (
            "    JOB_STATUS: /queue/plastron.jobs.status\n",
            "MESSAGE_BROKER.DESTINATIONS",
            "JOB_STATUS",
        ),
    ],
)
def test_missing_required_key_names_section_and_key(tmp_path, remove, section, key):
    assert remove in MINIMAL
    path = write(tmp_path, MINIMAL.replace(remove, ""))
    message = error_of(path)
    assert message == f"{path}: {section}: missing required key {key}"


def test_empty_required_value_counts_as_missing(tmp_path):
    path = write(tmp_path, MINIMAL.replace("LOG_DIR: /var/log/plastron", "LOG_DIR: ''"))
    assert error_of(path) == f"{path}: REPOSITORY: missing required key LOG_DIR"


def test_missing_repository_section(tmp_path):
    path = write(tmp_path, "HTTP_SERVER:\n  PORT: 5000\n")
    assert error_of(path) == f"{path}: missing required section REPOSITORY"


def test_missing_broker_section_is_an_error_for_stomp_only(tmp_path):
    path = write(tmp_path, MINIMAL.split("MESSAGE_BROKER:")[0])
    config = load_config(path, environ={})
    with pytest.raises(ConfigError, match="missing required section MESSAGE_BROKER"):
        config.require_broker()
    with pytest.raises(ConfigError, match=r"COMMANDS.IMPORT: missing required key JOBS_DIR"):
        config.require_jobs_dir()


def test_empty_file(tmp_path):
    path = write(tmp_path, "# nothing here\n")
    assert error_of(path) == f"{path}: the configuration file is empty"


def test_top_level_not_a_mapping(tmp_path):
    path = write(tmp_path, "- a\n- b\n")
    assert "expected a mapping of sections" in error_of(path)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("SERVER: activemq:61613", "SERVER: activemq", "MESSAGE_BROKER.SERVER: expected host:port"),
        ("SERVER: activemq:61613", "SERVER: 'mq:99999'", "MESSAGE_BROKER.SERVER: expected host"),
        (
            "REST_ENDPOINT: http://repository:8080/fcrepo/rest",
            "REST_ENDPOINT: repository",
            "REPOSITORY.REST_ENDPOINT: expected an http(s) URL",
        ),
        ("RELPATH: /pcdm", "RELPATH: [a, b]", "REPOSITORY.RELPATH: expected a string"),
    ],
)
def test_wrong_types_name_the_key(tmp_path, old, new, expected):
    path = write(tmp_path, MINIMAL.replace(old, new))
    message = error_of(path)
    assert expected in message
    assert message.startswith(str(path))


def test_bad_numbers_and_booleans(tmp_path):
    path = write(tmp_path, MINIMAL + "  MAX_CONCURRENT_JOBS: many\n")
    assert "MESSAGE_BROKER.MAX_CONCURRENT_JOBS: expected an integer, got 'many'" in error_of(path)
    path = write(tmp_path, MINIMAL + "  MAX_CONCURRENT_JOBS: 0\n")
    assert "MESSAGE_BROKER.MAX_CONCURRENT_JOBS: must be at least 1" in error_of(path)
    path = write(tmp_path, MINIMAL + "  USE_TLS: perhaps\n")
    assert "MESSAGE_BROKER.USE_TLS: expected true or false" in error_of(path)
    path = write(tmp_path, MINIMAL + "HTTP_SERVER:\n  PORT: 70000\n")
    assert "HTTP_SERVER.PORT: expected a TCP port" in error_of(path)


def test_unknown_keys_are_warnings_not_errors(tmp_path):
    path = write(tmp_path, MINIMAL + "  FLAVOUR: vanilla\nEXTRA_SECTION:\n  A: 1\n")
    config = load_config(path, environ={})
    assert any("MESSAGE_BROKER: unknown key FLAVOUR" in w for w in config.warnings)
    assert any("unknown section EXTRA_SECTION" in w for w in config.warnings)


def test_other_command_sections_are_kept_raw(tmp_path):
    path = write(tmp_path, MINIMAL + "COMMANDS:\n  PUBLISH:\n    HANDLE_ENDPOINT: http://h\n")
    config = load_config(path, environ={})
    assert config.commands.raw["PUBLISH"]["HANDLE_ENDPOINT"] == "http://h"
    assert config.warnings == ()


def test_content_models_and_update_keys(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.content_models.dir is None
    assert config.content_models.vocabularies == {}
    assert config.content_models.vocabulary_cache_seconds == 3600
    assert config.content_models.vocabulary_timeout == 15
    assert config.commands.update.max_concurrent_items == 4
    path = write(
        tmp_path,
        MINIMAL
        + "COMMANDS:\n  UPDATE:\n    MAX_CONCURRENT_ITEMS: 2\n"
        + "CONTENT_MODELS:\n  DIR: /etc/plastron/models\n"
        + "  VOCABULARIES:\n    'http://vocab.lib.umd.edu/form#': http://mirror/form.ttl\n"
        + "  VOCABULARY_CACHE_SECONDS: 60\n  VOCABULARY_TIMEOUT: 5\n",
    )
    config = load_config(path, environ={})
    assert config.commands.update.max_concurrent_items == 2
    assert config.content_models.dir == Path("/etc/plastron/models")
    assert config.content_models.vocabularies == {
        "http://vocab.lib.umd.edu/form#": "http://mirror/form.ttl"
    }
    assert config.content_models.vocabulary_cache_seconds == 60
    assert config.content_models.vocabulary_timeout == 5
    assert config.warnings == ()
    path = write(tmp_path, MINIMAL + "CONTENT_MODELS:\n  VOCABULARIES: [a, b]\n")
    assert "CONTENT_MODELS.VOCABULARIES: expected a mapping" in error_of(path)
    path = write(tmp_path, MINIMAL + "COMMANDS:\n  UPDATE:\n    MAX_CONCURRENT_ITEMS: 0\n")
    assert "COMMANDS.UPDATE.MAX_CONCURRENT_ITEMS: must be at least 1" in error_of(path)


# Upstream Plastron 4.8.1's keys (configuration.md): such a file starts plastrond unchanged.
UPSTREAM_481 = """\
REPOSITORY:
  REST_ENDPOINT: https://fcrepo.example.edu/fcrepo/rest
  ORIGIN: http://fcrepo-webapp:8080
  JWT_SECRET: c2VjcmV0
  LOG_DIR: /var/log/plastron
MESSAGE_BROKER:
  SERVER: activemq:61613
  MESSAGE_STORE_DIR: /var/opt/plastron/msg
  HEARTBEAT:
    SEND: 5000
    RECEIVE: 20000
  DESTINATIONS:
    JOBS: /queue/plastron.jobs
    JOB_STATUS: /queue/plastron.jobs.status
COMMANDS:
  IMPORT:
    JOBS_DIR: /var/opt/plastron/jobs
"""


def test_an_upstream_481_config_loads_without_warnings(tmp_path):
    config = load_config(write(tmp_path, UPSTREAM_481), environ={})
    assert config.warnings == ()
    repo = config.repository
    assert repo.rest_endpoint == "https://fcrepo.example.edu/fcrepo/rest"
    # ORIGIN without a path takes REST_ENDPOINT's
    assert repo.origin == "http://fcrepo-webapp:8080/fcrepo/rest"
    assert repo.relpath == "/"
    broker = config.require_broker()
    assert (broker.heartbeat_send_ms, broker.heartbeat_receive_ms) == (5000, 20000)
    dests = broker.destinations
    assert dests.job_progress is None and dests.synchronous_jobs is None
    assert dests.jobs == "/queue/plastron.jobs"


def test_origin_with_a_path_and_bad_origins(tmp_path):
    text = UPSTREAM_481.replace(
        "ORIGIN: http://fcrepo-webapp:8080", "ORIGIN: http://fcrepo-webapp:8080/fcrepo/rest/"
    )
    assert load_config(write(tmp_path, text), environ={}).repository.origin == (
        "http://fcrepo-webapp:8080/fcrepo/rest"
    )
    bad = write(tmp_path, UPSTREAM_481.replace("http://fcrepo-webapp:8080", "fcrepo-webapp"))
    assert "REPOSITORY.ORIGIN: expected an http(s) URL, got 'fcrepo-webapp'" in error_of(bad)


def test_heartbeat_spellings(tmp_path):
    own = MINIMAL.replace(
        "  DESTINATIONS:", "  HEARTBEAT_SEND_MS: 1000\n  HEARTBEAT_RECEIVE_MS: 0\n  DESTINATIONS:"
    )
    broker = load_config(write(tmp_path, own), environ={}).require_broker()
    assert (broker.heartbeat_send_ms, broker.heartbeat_receive_ms) == (1000, 0)
    # HEARTBEAT.SEND wins where it is given; the other keeps plastrond's spelling
    both = own.replace("  DESTINATIONS:", "  HEARTBEAT:\n    SEND: 3000\n  DESTINATIONS:")
    broker = load_config(write(tmp_path, both), environ={}).require_broker()
    assert (broker.heartbeat_send_ms, broker.heartbeat_receive_ms) == (3000, 0)
    bad = write(
        tmp_path,
        MINIMAL.replace("  DESTINATIONS:", "  HEARTBEAT:\n    SEND: soon\n  DESTINATIONS:"),
    )
    assert "MESSAGE_BROKER.HEARTBEAT.SEND: expected an integer, got 'soon'" in error_of(bad)
    unknown = write(
        tmp_path, MINIMAL.replace("  DESTINATIONS:", "  HEARTBEAT:\n    OFTEN: 1\n  DESTINATIONS:")
    )
    assert any(
        "HEARTBEAT: unknown key OFTEN" in w for w in load_config(unknown, environ={}).warnings
    )


def test_relpath_defaults_to_the_root(tmp_path):
    config = load_config(write(tmp_path, MINIMAL.replace("  RELPATH: /pcdm\n", "")), environ={})
    assert config.repository.relpath == "/"
    slashless = MINIMAL.replace("RELPATH: /pcdm", "RELPATH: pcdm")
    assert load_config(write(tmp_path, slashless), environ={}).repository.relpath == "/pcdm"


def test_jobs_dir_from_the_environment_when_the_file_names_none(tmp_path):
    path = write(tmp_path, MINIMAL.split("MESSAGE_BROKER:")[0])
    config = load_config(path, environ={"JOBS_DIR": "/srv/jobs"})
    assert config.require_jobs_dir() == Path("/srv/jobs")
    named = write(tmp_path, MINIMAL + "COMMANDS:\n  IMPORT:\n    JOBS_DIR: /etc/jobs\n", "b.yml")
    assert load_config(named, environ={"JOBS_DIR": "/srv/jobs"}).require_jobs_dir() == Path(
        "/etc/jobs"
    )


def test_http_server_limits_and_token(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.http_server.auth_token is None
    assert config.http_server.max_body_bytes == 4 * 1024 * 1024
    text = MINIMAL + (
        "HTTP_SERVER:\n  AUTH_TOKEN: ${TOKEN}\n  MAX_BODY_BYTES: 65536\n  MAX_SPARQL_BYTES: 4096\n"
    )
    config = load_config(write(tmp_path, text, "b.yml"), environ={"TOKEN": "t0ken-value"})
    assert config.http_server.auth_token == "t0ken-value"
    assert config.http_server.max_body_bytes == 65536
    assert config.http_server.max_sparql_bytes == 4096
    assert "t0ken-value" in config.secrets()
    assert "t0ken-value" not in repr(config)
    bad = write(tmp_path, MINIMAL + "HTTP_SERVER:\n  MAX_BODY_BYTES: 10\n", "c.yml")
    assert "HTTP_SERVER.MAX_BODY_BYTES: must be at least 1024" in error_of(bad)


def test_a_key_left_out_takes_its_fields_default(tmp_path):
    """Each default is written once, on its field: a file that leaves every optional key out
    reads as the classes built with no arguments."""
    config = load_config(write(tmp_path, MINIMAL + "ADMIN: {}\n"), environ={})
    repo = config.repository
    assert repo == RepositoryConfig(
        rest_endpoint=repo.rest_endpoint, log_dir=repo.log_dir, relpath="/pcdm"
    )
    broker = config.require_broker()
    assert broker == BrokerConfig(
        servers=broker.servers,
        destinations=broker.destinations,
        message_store_dir=broker.message_store_dir,
    )
    assert config.commands.export == ExportConfig()
    assert config.commands.import_ == ImportConfig()
    assert config.commands.update == UpdateConfig()
    assert config.http_server == HttpServerConfig()
    assert config.admin == AdminConfig()
    assert config.solr == SolrConfig()
    assert config.content_models == ContentModelsConfig()
    assert config.publication == PublicationConfig()


def test_transaction_style_reads_like_log_format(tmp_path):
    """Both words are read whatever their case (TRANSACTION_STYLE refused `FCREPO4`, while
    LOG_FORMAT took `JSON`); a wrong one is named as written."""
    text = MINIMAL.replace(
        "  LOG_DIR:", "  TRANSACTION_STYLE: ' FCREPO4'\n  LOG_FORMAT: Json\n  LOG_DIR:"
    )
    repo = load_config(write(tmp_path, text), environ={}).repository
    assert (repo.transaction_style, repo.log_format) == ("fcrepo4", "json")
    bad = write(tmp_path, MINIMAL.replace("  LOG_DIR:", "  TRANSACTION_STYLE: Fcrepo5\n  LOG_DIR:"))
    assert error_of(bad).endswith(
        "REPOSITORY.TRANSACTION_STYLE: expected auto, fcrepo6 or fcrepo4, got 'Fcrepo5'"
    )


def test_a_handle_endpoint_requires_what_the_service_needs(tmp_path):
    text = MINIMAL + (
        "PUBLICATION_WORKFLOW:\n  HANDLE_ENDPOINT: http://handles.example/api/v1/\n"
        "  PUBLIC_URL_PATTERN: 'http://digital.example/{uuid}'\n  HANDLE_JWT_TOKEN: tok-123456\n"
        "  HANDLE_PREFIX: '1903.1'\n"
    )
    path = write(tmp_path, text)
    assert error_of(path) == f"{path}: PUBLICATION_WORKFLOW: missing required key HANDLE_REPO"
    whole = load_config(write(tmp_path, text + "  HANDLE_REPO: fcrepo\n"), environ={})
    assert whole.publication.handle_endpoint == "http://handles.example/api/v1"
    assert "tok-123456" in whole.secrets() and "tok-123456" not in repr(whole)
