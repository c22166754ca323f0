"""The YAML configuration file, as typed immutable values.

`load_config(path)` reads the file, substitutes `${VAR}` and `${VAR:-default}` in every string
value from the environment, and builds `Config`. Anything wrong with the file raises
`ConfigError` with one line that names the file and the section and key; the CLI prints it and
exits non-zero. Keys this version does not know are collected in `Config.warnings`, not fatal.

The sections and keys are those of `shared/reference/configuration.md`; keys that plastrond adds
(concurrency, limits, allowed folders, heart-beats, broker credentials, TLS, failover) live in
the same sections with defaults that keep the reference example working unchanged.

Each key is declared once, on its field: `prefetch: int = setting("PREFETCH", 10, minimum=1)`
names the key, its default, its bounds and its check; `_read(section, BrokerConfig)` reads every
such field of the class by its type (`bool`, `int`, `float`, `str`, `Path`, a tuple of folders).
What one key cannot say alone (a key that falls back on another, or on the environment) is done
after the read, in the section's own function.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

from .errors import PlastronError
from .parsing import dot_segment, parse_bool
from .yamlfile import read_yaml

__all__ = [
    "LOG_FORMATS",
    "AdminConfig",
    "BrokerAddress",
    "BrokerConfig",
    "CommandsConfig",
    "Config",
    "ConfigError",
    "ContentModelsConfig",
    "Destinations",
    "ExportConfig",
    "HttpServerConfig",
    "ImportConfig",
    "PublicationConfig",
    "RepositoryConfig",
    "SftpKeys",
    "SolrConfig",
    "UpdateConfig",
    "load_config",
    "substitute",
]

T = TypeVar("T")
C = TypeVar("C", bound=attrs.AttrsInstance)

#: MESSAGE_BROKER.MAX_REQUEST_BYTES / MAX_COMPLETION_BYTES when the file does not say
MAX_REQUEST_BYTES_DEFAULT = 16 * 1024 * 1024
MAX_COMPLETION_BYTES_DEFAULT = 4 * 1024 * 1024


class ConfigError(PlastronError):
    """A problem with the configuration file, described in one line."""


# --------------------------------------------------------------------------------------------
# Declaring a key
# --------------------------------------------------------------------------------------------

#: field metadata: the key in the file; the least number allowed; what checks the value read
KEY = "plastrond.config.key"
MIN = "plastrond.config.minimum"
CHECK = "plastrond.config.check"

#: a check: (section, key, value read) -> the value to keep, or ConfigError
Check = Callable[["_Section", str, Any], Any]


def setting(
    key: str,
    default: Any = attrs.NOTHING,
    *,
    minimum: float = 0,
    check: Check | None = None,
    secret: bool = False,
) -> Any:
    """A field read from *key* of its section; without a *default*, the key is required.
    Numbers must be at least *minimum*; *check* sees the value (given or default) unless it
    is None; a *secret* is kept out of the repr and listed by `Config.secrets`."""
    return attrs.field(
        default=default, repr=not secret, metadata={KEY: key, MIN: minimum, CHECK: check}
    )


def _one_of(*choices: str) -> Check:
    """A check: one of *choices*, case and surrounding spaces aside."""
    allowed = f"{', '.join(choices[:-1])} or {choices[-1]}"

    def check(sec: _Section, key: str, value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in choices:
            raise ConfigError(f"{sec.where(key)}: expected {allowed}, got {value!r}")
        return lowered

    return check


def _tcp_port(sec: _Section, key: str, port: int) -> int:
    if not 0 <= port < 65536:
        raise ConfigError(f"{sec.where(key)}: expected a TCP port, got {port}")
    return port


def _container_path(sec: _Section, key: str, relpath: str) -> str:
    if not relpath.startswith("/"):
        relpath = "/" + relpath
    if any(dot_segment(part) for part in relpath.split("/")):
        raise ConfigError(
            f"{sec.where(key)}: must be a container path below the repository root "
            f"(no . or .. segments), got {relpath!r}"
        )
    return relpath


def _url_pattern(sec: _Section, key: str, pattern: str) -> str:
    from .public_urls import PublicUrlError, check_pattern

    try:
        check_pattern(pattern)
    except PublicUrlError as e:
        raise ConfigError(f"{sec.where(key)}: {e}") from None
    return pattern


def _http_url(sec: _Section, key: str, value: str | None, *, credentials: str) -> str | None:
    """*value* checked to be an absolute http(s) URL with a host (and a valid port), no
    query or fragment, and no credentials (httpx would send them, and every log line and
    error naming a URI would show them: they belong in the keys *credentials* names).
    Returned without its trailing slashes; None stays None. Errors never show a password."""
    from urllib.parse import urlsplit

    if value is None:
        return None
    text = value.strip()
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is not None and (parts.username is not None or parts.password is not None):
        raise ConfigError(
            f"{sec.where(key)}: the URL must not carry a user name or password "
            f"({parts.scheme}://***@{parts.hostname}...); use {credentials}"
        )
    if (
        parts is None
        or not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "?" in text
        or "#" in text
        or any(c.isspace() or not c.isprintable() for c in text)
    ):
        raise ConfigError(f"{sec.where(key)}: expected an http(s) URL, got {text!r}")
    return text.rstrip("/")


_FEDORA_CREDS = "FEDORA_USER and FEDORA_PASSWORD (or AUTH_TOKEN, JWT_SECRET)"
#: checks: an http(s) URL (see `_http_url`) whose password belongs in the keys named
_FEDORA_URL = functools.partial(_http_url, credentials=_FEDORA_CREDS)
_HANDLE_URL = functools.partial(_http_url, credentials="HANDLE_JWT_TOKEN")

#: the values of REPOSITORY.LOG_FORMAT (and of the LOG_FORMAT environment variable)
LOG_FORMATS = ("text", "json")
TRANSACTION_STYLES = ("auto", "fcrepo6", "fcrepo4")


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@attrs.frozen
class RepositoryConfig:
    rest_endpoint: str = setting("REST_ENDPOINT", check=_FEDORA_URL)
    log_dir: Path = setting("LOG_DIR")
    #: container path under the root where new objects go
    relpath: str = setting("RELPATH", "/", check=_container_path)
    repo_external_url: str | None = setting("REPO_EXTERNAL_URL", None, check=_FEDORA_URL)
    #: the URL the repository is really reached at when REST_ENDPOINT is its name behind a
    #: reverse proxy: requests go there with X-Forwarded-Host/-Proto from REST_ENDPOINT
    origin: str | None = setting("ORIGIN", None, check=_FEDORA_URL)
    auth_token: str | None = setting("AUTH_TOKEN", None, secret=True)
    jwt_secret: str | None = setting("JWT_SECRET", None, secret=True)
    client_cert: Path | None = setting("CLIENT_CERT", None)
    client_key: Path | None = setting("CLIENT_KEY", None)
    fedora_user: str | None = setting("FEDORA_USER", None)
    fedora_password: str | None = setting("FEDORA_PASSWORD", None, secret=True)
    server_cert: Path | None = setting("SERVER_CERT", None)
    #: "auto" asks the server; "fcrepo6" (Atomic-ID) or "fcrepo4" (tx: paths) force a style.
    transaction_style: str = setting(
        "TRANSACTION_STYLE", "auto", check=_one_of(*TRANSACTION_STYLES)
    )
    #: seconds for connecting to and hearing from the repository
    timeout: float = setting("TIMEOUT", 60.0, minimum=0.001)
    #: "text" (one line per event) or "json" (one JSON object per line); the LOG_FORMAT
    #: environment variable, when set, wins
    log_format: str = setting("LOG_FORMAT", "text", check=_one_of(*LOG_FORMATS))


@attrs.frozen
class AdminConfig:
    """The stomp mode's admin listener (`GET /health`, `GET /metrics`): on when configured."""

    host: str = setting("HOST", "127.0.0.1")
    port: int = setting("PORT", 9180, check=_tcp_port)


@attrs.frozen
class BrokerAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@attrs.frozen
class Destinations:
    jobs: str = setting("JOBS")
    job_status: str = setting("JOB_STATUS")
    #: progress for older clients (none: progress goes only where a request's
    #: PlastronStatusURL says, on job_status)
    job_progress: str | None = setting("JOB_PROGRESS", None)
    #: older Archelon's synchronous jobs (none: not subscribed)
    synchronous_jobs: str | None = setting("SYNCHRONOUS_JOBS", None)
    reindexing: str | None = setting("REINDEXING", None)


@attrs.frozen
class BrokerConfig:
    #: one or more addresses, tried in turn (failover): SERVER, read by `_parse_servers`
    servers: tuple[BrokerAddress, ...]
    #: the DESTINATIONS sub-section
    destinations: Destinations
    message_store_dir: Path = setting("MESSAGE_STORE_DIR")
    #: the environment variable PUBLIC_URI_TEMPLATE when the file names none
    public_uri_template: str | None = setting("PUBLIC_URI_TEMPLATE", None)
    login: str | None = setting("LOGIN", None)
    passcode: str | None = setting("PASSCODE", None, secret=True)
    #: the STOMP `host` header (the broker's virtual host); defaults to the server's host name
    virtual_host: str | None = setting("VIRTUAL_HOST", None)
    use_tls: bool = setting("USE_TLS", False)
    tls_ca_file: Path | None = setting("TLS_CA_FILE", None)
    #: heart-beats we offer to send / want to receive, in milliseconds (0 disables); upstream
    #: Plastron's HEARTBEAT: {SEND, RECEIVE} wins over these
    heartbeat_send_ms: int = setting("HEARTBEAT_SEND_MS", 10_000)
    heartbeat_receive_ms: int = setting("HEARTBEAT_RECEIVE_MS", 10_000)
    #: how many unacknowledged messages the broker may push to us per subscription
    prefetch: int = setting("PREFETCH", 10, minimum=1)
    #: accepted asynchronous jobs that may wait for a free runner; when full, plastrond stops
    #: accepting, and the broker offers the rest to other replicas
    max_queued_jobs: int = setting("MAX_QUEUED_JOBS", 16)
    #: how many asynchronous / synchronous jobs run at once
    max_concurrent_jobs: int = setting("MAX_CONCURRENT_JOBS", 4, minimum=1)
    max_concurrent_sync_jobs: int = setting("MAX_CONCURRENT_SYNC_JOBS", 4, minimum=1)
    #: seconds: first and largest delay between reconnection attempts
    reconnect_initial_delay: float = setting("RECONNECT_INITIAL_DELAY", 1.0, minimum=0.001)
    reconnect_max_delay: float = setting("RECONNECT_MAX_DELAY", 60.0, minimum=0.001)
    #: seconds allowed for the TCP connection and the CONNECTED frame
    connect_timeout: float = setting("CONNECT_TIMEOUT", 30.0, minimum=0.1)
    #: seconds that running jobs get to finish after SIGTERM before they are cancelled
    shutdown_grace_period: float = setting("SHUTDOWN_GRACE_PERIOD", 30.0)
    #: seconds: the shortest gap between two progress messages of one job
    progress_interval: float = setting("PROGRESS_INTERVAL", 1.0)
    #: largest request body run; a larger one gets an error completion (the STOMP parser's
    #: own frame limit is set a little above it, see broker.connection)
    max_request_bytes: int = setting("MAX_REQUEST_BYTES", MAX_REQUEST_BYTES_DEFAULT, minimum=1024)
    #: largest completion body sent; a larger result is cut with a note, kept whole on disk
    max_completion_bytes: int = setting(
        "MAX_COMPLETION_BYTES", MAX_COMPLETION_BYTES_DEFAULT, minimum=1024
    )


@attrs.frozen
class SftpKeys:
    """How a command that reads or writes over SFTP logs in: the keys of its section
    (`sftp.login_settings` makes them the settings of a connection)."""

    ssh_private_key: Path | None = setting("SSH_PRIVATE_KEY", None)
    #: whether an SFTP host missing from known_hosts is accepted (and remembered)
    sftp_accept_unknown_hosts: bool = setting("SFTP_ACCEPT_UNKNOWN_HOSTS", False)
    #: the host keys to check against (None: the system's known hosts)
    sftp_known_hosts: Path | None = setting("SFTP_KNOWN_HOSTS", None)


@attrs.frozen
class ExportConfig(SftpKeys):
    #: local folders an `output-dest` may point into (none: local destinations are refused)
    allowed_output_dirs: tuple[Path, ...] = setting("ALLOWED_OUTPUT_DIRS", ())
    max_concurrent_items: int = setting("MAX_CONCURRENT_ITEMS", 4, minimum=1)


@attrs.frozen
class ImportConfig(SftpKeys):
    #: the environment variable JOBS_DIR when the file names none (upstream Plastron's http
    #: server reads only that)
    jobs_dir: Path | None = setting("JOBS_DIR", None)
    #: local folders that `binaries-location` may point into
    allowed_binaries_dirs: tuple[Path, ...] = setting("ALLOWED_BINARIES_DIRS", ())
    max_concurrent_items: int = setting("MAX_CONCURRENT_ITEMS", 4, minimum=1)
    #: the largest file one row may bring (declared and real size), in bytes
    max_file_size: int = setting("MAX_FILE_SIZE", 50 * 1024**3)
    #: the most bytes of files one run of a job may bring, in all
    max_job_files_size: int = setting("MAX_JOB_FILES_SIZE", 2 * 1024**4)


@attrs.frozen
class UpdateConfig:
    #: resources read, validated and written at once within one update job
    max_concurrent_items: int = setting("MAX_CONCURRENT_ITEMS", 4, minimum=1)


@attrs.frozen
class CommandsConfig:
    export: ExportConfig = ExportConfig()
    import_: ImportConfig = ImportConfig()
    update: UpdateConfig = UpdateConfig()
    #: every sub-section as written (upper-case command name -> mapping), for commands that
    #: read their own keys
    raw: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)


@attrs.frozen
class HttpServerConfig:
    host: str = setting("HOST", "0.0.0.0")
    port: int = setting("PORT", 5000, check=_tcp_port)
    #: when set, `/inbox` and `/resources` want `Authorization: Bearer <this>`
    auth_token: str | None = setting("AUTH_TOKEN", None, secret=True)
    #: largest request body accepted (413 past it)
    max_body_bytes: int = setting("MAX_BODY_BYTES", 4 * 1024 * 1024, minimum=1024)
    #: largest SPARQL Update accepted by `PATCH /resources` (413 past it)
    max_sparql_bytes: int = setting("MAX_SPARQL_BYTES", 1024 * 1024, minimum=1024)


@attrs.frozen
class SolrConfig:
    url: str | None = setting("URL", None)


@attrs.frozen
class ContentModelsConfig:
    """The CONTENT_MODELS section: where more content models and vocabularies come from."""

    #: a folder of content model files read after the shipped ones (see plastrond.models)
    dir: Path | None = setting("DIR", None)
    #: vocabulary IRI -> URL or local file to read it from instead of the IRI (VOCABULARIES,
    #: read by `_content_models`)
    vocabularies: Mapping[str, str] = attrs.field(factory=dict)
    #: seconds a fetched vocabulary is kept before it is fetched again
    vocabulary_cache_seconds: float = setting("VOCABULARY_CACHE_SECONDS", 3600.0)
    #: seconds allowed for fetching one vocabulary
    vocabulary_timeout: float = setting("VOCABULARY_TIMEOUT", 15.0, minimum=0.001)


@attrs.frozen
class PublicationConfig:
    """The PUBLICATION_WORKFLOW section: the handle service and public URLs (handles.md).
    With a HANDLE_ENDPOINT, the four keys after it are required."""

    #: template of an item's public URL (plastrond.public_urls fields)
    public_url_pattern: str | None = setting("PUBLIC_URL_PATTERN", None, check=_url_pattern)
    #: base URL of the handle service's API; None: publishing mints no handles
    handle_endpoint: str | None = setting("HANDLE_ENDPOINT", None, check=_HANDLE_URL)
    handle_jwt_token: str | None = setting("HANDLE_JWT_TOKEN", None, secret=True)
    handle_prefix: str | None = setting("HANDLE_PREFIX", None)
    handle_repo: str | None = setting("HANDLE_REPO", None)
    #: seconds for connecting to and hearing from the handle service
    handle_timeout: float = setting("HANDLE_TIMEOUT", 30.0, minimum=0.001)

    @property
    def handles(self) -> bool:
        """Whether publishing goes through the handle service."""
        return self.handle_endpoint is not None


@attrs.frozen
class Config:
    path: Path
    repository: RepositoryConfig
    message_broker: BrokerConfig | None
    commands: CommandsConfig
    http_server: HttpServerConfig
    solr: SolrConfig
    content_models: ContentModelsConfig = ContentModelsConfig()
    #: the admin listener of the stomp mode; None (off) unless the ADMIN section is there
    admin: AdminConfig | None = None
    publication: PublicationConfig = PublicationConfig()
    #: one line per unknown key, for the caller to log once logging is set up
    warnings: tuple[str, ...] = ()

    def secrets(self) -> tuple[str, ...]:
        """Every secret value in this configuration (each `setting(..., secret=True)`), for
        log redaction."""
        return tuple(_secrets(self))

    def require_broker(self) -> BrokerConfig:
        if self.message_broker is None:
            raise ConfigError(f"{self.path}: missing required section MESSAGE_BROKER")
        return self.message_broker

    def require_jobs_dir(self) -> Path:
        if self.commands.import_.jobs_dir is None:
            raise ConfigError(
                f"{self.path}: COMMANDS.IMPORT: missing required key JOBS_DIR "
                "(or the environment variable JOBS_DIR)"
            )
        return self.commands.import_.jobs_dir


def _secrets(value: attrs.AttrsInstance) -> Iterator[str]:
    for field in attrs.fields(type(value)):
        item = getattr(value, field.name)
        if not field.repr and item:
            yield item
        elif attrs.has(type(item)):
            yield from _secrets(item)


# --------------------------------------------------------------------------------------------
# ${VAR} substitution
# --------------------------------------------------------------------------------------------

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute(value: str, environ: Mapping[str, str], where: str) -> str:
    """Replace `${VAR}` and `${VAR:-default}` in *value*; `$$` stands for a literal `$`.

    `${VAR:-default}` takes the default when VAR is unset or empty, as a shell does. An unset
    `${VAR}` raises ConfigError naming the variable and *where* it was used.
    """

    def replace(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(2)
        current = environ.get(name)
        if default is not None:
            return current if current else default
        if current is None:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return current

    if "$" not in value:
        return value
    return _VAR.sub(replace, value)


def _substitute_tree(
    node: Any, environ: Mapping[str, str], path: Path, keys: tuple[str, ...]
) -> Any:
    if isinstance(node, str):
        return substitute(node, environ, f"{path}: {'.'.join(keys)}")
    if isinstance(node, dict):
        return {k: _substitute_tree(v, environ, path, (*keys, str(k))) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute_tree(v, environ, path, keys) for v in node]
    return node


# --------------------------------------------------------------------------------------------
# Reading sections
# --------------------------------------------------------------------------------------------


class _Section:
    """One mapping of the file, read key by key with errors that name file, section and key."""

    def __init__(self, path: Path, name: str, data: Any, warnings: list[str]) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: {name}: expected a mapping of keys, got {_kind(data)}")
        self.path = path
        self.name = name
        self.data: dict[str, Any] = data
        self.used: set[str] = set()
        self.warnings = warnings

    def where(self, key: str) -> str:
        return f"{self.path}: {self.name}.{key}"

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            if required:
                raise self.missing(key)
            return None
        return value

    def missing(self, key: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.name}: missing required key {key}")

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool | dict | list):
            raise ConfigError(f"{self.where(key)}: expected a string, got {_kind(value)}")
        return str(value)

    def path_(self, key: str, *, required: bool = False) -> Path | None:
        value = self.text(key, required=required)
        return None if value is None else Path(value)

    def paths(self, key: str) -> tuple[Path, ...]:
        value = self._get(key, False)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.where(key)}: expected a list of folders, got {_kind(value)}")
        for v in value:
            # An empty entry (an unset ${VAR:-}) would be Path("."): whatever folder the
            # daemon runs in, allowed.
            if not v.strip():
                raise ConfigError(
                    f"{self.where(key)}: an empty entry (an unset variable?) would allow the "
                    "working folder; every entry must name a folder"
                )
        # Relative entries are taken from the working folder at start, once.
        return tuple(Path(os.path.abspath(v.strip())) for v in value)

    def number(self, key: str, default: T, convert: Callable[[Any], T], *, minimum: float = 0) -> T:
        value = self._get(key, False)
        if value is None:
            return default
        kind = "an integer" if convert is int else "a number"
        if isinstance(value, bool):
            raise ConfigError(f"{self.where(key)}: expected {kind}, got {value!r}")
        try:
            result = convert(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{self.where(key)}: expected {kind}, got {value!r}") from None
        if convert is int and isinstance(value, float) and value != int(value):
            raise ConfigError(f"{self.where(key)}: expected {kind}, got {value!r}")
        if isinstance(result, float) and not math.isfinite(result):
            raise ConfigError(f"{self.where(key)}: expected a finite number, got {value!r}")
        if result < minimum:  # type: ignore[operator]
            raise ConfigError(f"{self.where(key)}: must be at least {minimum:g}, got {value!r}")
        return result

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        parsed = parse_bool(str(value))
        if parsed is not None:
            return parsed
        raise ConfigError(f"{self.where(key)}: expected true or false, got {value!r}")

    def section(self, key: str, *, required: bool = False) -> _Section:
        value = self._get(key, required)
        return _Section(self.path, f"{self.name}.{key}", value, self.warnings)

    def finish(self) -> None:
        for key in self.data:
            if key not in self.used:
                self.warnings.append(f"{self.path}: {self.name}: unknown key {key} (ignored)")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _parse_servers(section: _Section) -> tuple[BrokerAddress, ...]:
    raw = section._get("SERVER", True)
    items: list[str]
    if isinstance(raw, list):
        items = [str(v) for v in raw]
    elif isinstance(raw, str):
        items = [part for part in (p.strip() for p in raw.split(",")) if part]
    else:
        raise ConfigError(f"{section.where('SERVER')}: expected host:port, got {_kind(raw)}")
    addresses = []
    for item in items:
        host, sep, port = item.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{section.where('SERVER')}: expected host:port, got {item!r}")
        addresses.append(BrokerAddress(host, int(port)))
    if not addresses:
        raise section.missing("SERVER")
    return tuple(addresses)


# --------------------------------------------------------------------------------------------
# Reading a section into its class
# --------------------------------------------------------------------------------------------


def _read(sec: _Section, cls: type[C], **given: Any) -> C:
    """A *cls* whose every `setting` field not *given* is read from *sec* (see `_value`)."""
    values = dict(given)
    for field in attrs.fields(attrs.resolve_types(cls)):
        if field.name not in values and KEY in field.metadata:
            values[field.name] = _value(sec, field)
    return cls(**values)


def _value(sec: _Section, field: attrs.Attribute[Any]) -> Any:
    """One `setting` field's value from *sec*, read as its type says, then checked."""
    key: str = field.metadata[KEY]
    kind: Any = field.type
    default: Any = field.default
    required = default is attrs.NOTHING
    value: Any
    if kind is bool:
        value = sec.flag(key, default)
    elif kind in (int, float):
        value = sec.number(key, default, kind, minimum=field.metadata[MIN])
    elif kind in (Path, Path | None):
        value = sec.path_(key, required=required)
    elif kind == tuple[Path, ...]:
        value = sec.paths(key)
    elif kind in (str, str | None):
        value = sec.text(key, required=required)
    else:
        raise TypeError(f"{field.name}: no reader for {kind}")
    if value is None:
        value = default
    check = field.metadata[CHECK]
    return value if value is None or check is None else check(sec, key, value)


def _repository(sec: _Section) -> RepositoryConfig:
    repository = _whole(sec, RepositoryConfig)
    if repository.origin is None:
        return repository
    # ORIGIN written as the server alone (`http://fcrepo:8080`) takes REST_ENDPOINT's path.
    return attrs.evolve(repository, origin=_origin(repository.origin, repository.rest_endpoint))


def _origin(origin: str, rest_endpoint: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    path = parts.path.rstrip("/") or urlsplit(rest_endpoint).path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _broker(sec: _Section, environ: Mapping[str, str]) -> BrokerConfig:
    destinations = _read_section(sec, "DESTINATIONS", Destinations, required=True)
    broker = _read(sec, BrokerConfig, servers=_parse_servers(sec), destinations=destinations)
    if broker.reconnect_max_delay < broker.reconnect_initial_delay:
        raise ConfigError(
            f"{sec.where('RECONNECT_MAX_DELAY')}: must not be less than RECONNECT_INITIAL_DELAY"
        )
    # Upstream Plastron spells the heart-beats HEARTBEAT: {SEND, RECEIVE}; where that section
    # says, it wins over plastrond's own HEARTBEAT_SEND_MS / HEARTBEAT_RECEIVE_MS.
    beats = sec.section("HEARTBEAT")
    broker = attrs.evolve(
        broker,
        heartbeat_send_ms=beats.number("SEND", broker.heartbeat_send_ms, int),
        heartbeat_receive_ms=beats.number("RECEIVE", broker.heartbeat_receive_ms, int),
        public_uri_template=broker.public_uri_template or environ.get("PUBLIC_URI_TEMPLATE"),
    )
    beats.finish()
    sec.finish()
    return broker


def _commands(sec: _Section, environ: Mapping[str, str]) -> CommandsConfig:
    raw: dict[str, Mapping[str, Any]] = {}
    for name in sec.data:
        sub = sec.section(name)
        raw[name] = dict(sub.data)
        if name not in _KNOWN_COMMANDS:
            sec.warnings.append(f"{sec.path}: COMMANDS: unknown key {name} (no such command)")
    # Sections of other commands (PUBLISH, ...) are read by those commands.
    export = _read_section(sec, "EXPORT", ExportConfig)
    import_ = _read_section(sec, "IMPORT", ImportConfig)
    if import_.jobs_dir is None:
        import_ = attrs.evolve(import_, jobs_dir=_env_path(environ, "JOBS_DIR"))
    update = _read_section(sec, "UPDATE", UpdateConfig)
    return CommandsConfig(export=export, import_=import_, update=update, raw=raw)


def _read_section(parent: _Section, name: str, cls: type[C], *, required: bool = False) -> C:
    """The sub-section *name* of *parent* read into *cls* (see `_whole`)."""
    return _whole(parent.section(name, required=required), cls)


def _whole(sec: _Section, cls: type[C]) -> C:
    """*sec* read into *cls*, with a warning for each key it does not know."""
    result = _read(sec, cls)
    sec.finish()
    return result


#: what the handle service needs: required with a HANDLE_ENDPOINT
_HANDLE_NEEDS = ("public_url_pattern", "handle_jwt_token", "handle_prefix", "handle_repo")


def _publication(sec: _Section) -> PublicationConfig:
    result = _whole(sec, PublicationConfig)
    if result.handles:
        fields = attrs.fields_dict(PublicationConfig)
        for name in _HANDLE_NEEDS:
            if getattr(result, name) is None:
                raise sec.missing(fields[name].metadata[KEY])
    return result


def _env_path(environ: Mapping[str, str], name: str) -> Path | None:
    value = environ.get(name, "").strip()
    return Path(value) if value else None


def _content_models(sec: _Section) -> ContentModelsConfig:
    vocabularies = sec._get("VOCABULARIES", False) or {}
    if not isinstance(vocabularies, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in vocabularies.items()
    ):
        raise ConfigError(
            f"{sec.where('VOCABULARIES')}: expected a mapping of vocabulary IRI -> URL or file"
        )
    result = _read(
        sec, ContentModelsConfig, vocabularies={k: v.strip() for k, v in vocabularies.items()}
    )
    sec.finish()
    return result


_KNOWN_COMMANDS = ("ECHO", "EXPORT", "IMPORT", "UPDATE", "PUBLISH", "UNPUBLISH")
_KNOWN_SECTIONS = (
    "REPOSITORY",
    "MESSAGE_BROKER",
    "COMMANDS",
    "HTTP_SERVER",
    "SOLR",
    "CONTENT_MODELS",
    "ADMIN",
    "PUBLICATION_WORKFLOW",
)


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read and check the configuration file at *path*."""
    path = Path(path)
    env = os.environ if environ is None else environ
    data = read_yaml(path, "configuration file", ConfigError)
    if data is None:
        raise ConfigError(f"{path}: the configuration file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {_kind(data)}")

    data = _substitute_tree(data, env, path, ())
    warnings: list[str] = [
        f"{path}: unknown section {name} (ignored)" for name in data if name not in _KNOWN_SECTIONS
    ]

    def section(name: str) -> _Section:
        return _Section(path, name, data.get(name), warnings)

    if data.get("REPOSITORY") is None:
        raise ConfigError(f"{path}: missing required section REPOSITORY")
    repository = _repository(section("REPOSITORY"))
    broker = None
    if data.get("MESSAGE_BROKER") is not None:
        broker = _broker(section("MESSAGE_BROKER"), env)
    commands = _commands(section("COMMANDS"), env)
    http = _whole(section("HTTP_SERVER"), HttpServerConfig)
    solr = _whole(section("SOLR"), SolrConfig)
    content_models = _content_models(section("CONTENT_MODELS"))
    admin = None
    if data.get("ADMIN") is not None:
        admin = _whole(section("ADMIN"), AdminConfig)
    publication = _publication(section("PUBLICATION_WORKFLOW"))
    return Config(
        path=path,
        repository=repository,
        message_broker=broker,
        commands=commands,
        http_server=http,
        solr=solr,
        content_models=content_models,
        admin=admin,
        publication=publication,
        warnings=tuple(warnings),
    )
