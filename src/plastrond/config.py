"""The YAML configuration file, as typed immutable values.

`load_config(path)` reads the file, substitutes `${VAR}` and `${VAR:-default}` in every string
value from the environment, and builds `Config`. Anything wrong with the file raises
`ConfigError` with one line that names the file and the section and key; the CLI prints it and
exits non-zero. Keys this version does not know are collected in `Config.warnings`, not fatal.

The sections and keys are those of `shared/reference/configuration.md`; keys that plastrond adds
(concurrency, limits, allowed folders, heart-beats, broker credentials, TLS, failover) live in
the same sections with defaults that keep the reference example working unchanged.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

from .errors import PlastronError
from .parsing import parse_bool
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
    "SolrConfig",
    "UpdateConfig",
    "load_config",
    "substitute",
]

T = TypeVar("T")

#: MESSAGE_BROKER.MAX_REQUEST_BYTES / MAX_COMPLETION_BYTES when the file does not say
MAX_REQUEST_BYTES_DEFAULT = 16 * 1024 * 1024
MAX_COMPLETION_BYTES_DEFAULT = 4 * 1024 * 1024


class ConfigError(PlastronError):
    """A problem with the configuration file, described in one line."""


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@attrs.frozen
class RepositoryConfig:
    rest_endpoint: str
    log_dir: Path
    #: container path under the root where new objects go
    relpath: str = "/"
    repo_external_url: str | None = None
    #: the URL the repository is really reached at when REST_ENDPOINT is its name behind a
    #: reverse proxy: requests go there with X-Forwarded-Host/-Proto from REST_ENDPOINT
    origin: str | None = None
    auth_token: str | None = attrs.field(default=None, repr=False)
    jwt_secret: str | None = attrs.field(default=None, repr=False)
    client_cert: Path | None = None
    client_key: Path | None = None
    fedora_user: str | None = None
    fedora_password: str | None = attrs.field(default=None, repr=False)
    server_cert: Path | None = None
    #: "auto" asks the server; "fcrepo6" (Atomic-ID) or "fcrepo4" (tx: paths) force a style.
    transaction_style: str = "auto"
    #: seconds for connecting to and hearing from the repository
    timeout: float = 60.0
    #: "text" (one line per event) or "json" (one JSON object per line); the LOG_FORMAT
    #: environment variable, when set, wins
    log_format: str = "text"


#: the values of REPOSITORY.LOG_FORMAT (and of the LOG_FORMAT environment variable)
LOG_FORMATS = ("text", "json")


@attrs.frozen
class AdminConfig:
    """The stomp mode's admin listener (`GET /health`, `GET /metrics`): on when configured."""

    host: str = "127.0.0.1"
    port: int = 9180


@attrs.frozen
class BrokerAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@attrs.frozen
class Destinations:
    jobs: str
    job_status: str
    #: progress for older clients (none: progress goes only where a request's
    #: PlastronStatusURL says, on job_status)
    job_progress: str | None = None
    #: older Archelon's synchronous jobs (none: not subscribed)
    synchronous_jobs: str | None = None
    reindexing: str | None = None


@attrs.frozen
class BrokerConfig:
    #: one or more addresses, tried in turn (failover)
    servers: tuple[BrokerAddress, ...]
    message_store_dir: Path
    destinations: Destinations
    public_uri_template: str | None = None
    login: str | None = None
    passcode: str | None = attrs.field(default=None, repr=False)
    #: the STOMP `host` header (the broker's virtual host); defaults to the server's host name
    virtual_host: str | None = None
    use_tls: bool = False
    tls_ca_file: Path | None = None
    #: heart-beats we offer to send / want to receive, in milliseconds (0 disables)
    heartbeat_send_ms: int = 10_000
    heartbeat_receive_ms: int = 10_000
    #: how many unacknowledged messages the broker may push to us per subscription
    prefetch: int = 10
    #: accepted asynchronous jobs that may wait for a free runner; when full, plastrond stops
    #: accepting, and the broker offers the rest to other replicas
    max_queued_jobs: int = 16
    #: how many asynchronous / synchronous jobs run at once
    max_concurrent_jobs: int = 4
    max_concurrent_sync_jobs: int = 4
    #: seconds: first and largest delay between reconnection attempts
    reconnect_initial_delay: float = 1.0
    reconnect_max_delay: float = 60.0
    #: seconds allowed for the TCP connection and the CONNECTED frame
    connect_timeout: float = 30.0
    #: seconds that running jobs get to finish after SIGTERM before they are cancelled
    shutdown_grace_period: float = 30.0
    #: seconds: the shortest gap between two progress messages of one job
    progress_interval: float = 1.0
    #: largest request body run; a larger one gets an error completion (the STOMP parser's
    #: own frame limit is set a little above it, see broker.connection)
    max_request_bytes: int = MAX_REQUEST_BYTES_DEFAULT
    #: largest completion body sent; a larger result is cut with a note, kept whole on disk
    max_completion_bytes: int = MAX_COMPLETION_BYTES_DEFAULT


@attrs.frozen
class ExportConfig:
    ssh_private_key: Path | None = None
    #: local folders an `output-dest` may point into (none: local destinations are refused)
    allowed_output_dirs: tuple[Path, ...] = ()
    #: whether an SFTP host missing from known_hosts is accepted (and remembered)
    sftp_accept_unknown_hosts: bool = False
    sftp_known_hosts: Path | None = None
    max_concurrent_items: int = 4


@attrs.frozen
class ImportConfig:
    ssh_private_key: Path | None = None
    jobs_dir: Path | None = None
    #: local folders that `binaries-location` may point into
    allowed_binaries_dirs: tuple[Path, ...] = ()
    sftp_accept_unknown_hosts: bool = False
    sftp_known_hosts: Path | None = None
    max_concurrent_items: int = 4
    #: the largest file one row may bring (declared and real size), in bytes
    max_file_size: int = 50 * 1024**3  # MAX_FILE_SIZE_DEFAULT
    #: the most bytes of files one run of a job may bring, in all
    max_job_files_size: int = 2 * 1024**4  # MAX_JOB_FILES_SIZE_DEFAULT


@attrs.frozen
class UpdateConfig:
    #: resources read, validated and written at once within one update job
    max_concurrent_items: int = 4


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
    host: str = "0.0.0.0"
    port: int = 5000
    #: when set, `/inbox` and `/resources` want `Authorization: Bearer <this>`
    auth_token: str | None = attrs.field(default=None, repr=False)
    #: largest request body accepted (413 past it)
    max_body_bytes: int = 4 * 1024 * 1024
    #: largest SPARQL Update accepted by `PATCH /resources` (413 past it)
    max_sparql_bytes: int = 1024 * 1024


@attrs.frozen
class SolrConfig:
    url: str | None = None


@attrs.frozen
class ContentModelsConfig:
    """The CONTENT_MODELS section: where more content models and vocabularies come from."""

    #: a folder of content model files read after the shipped ones (see plastrond.models)
    dir: Path | None = None
    #: vocabulary IRI -> URL or local file to read it from instead of the IRI
    vocabularies: Mapping[str, str] = attrs.field(factory=dict)
    #: seconds a fetched vocabulary is kept before it is fetched again
    vocabulary_cache_seconds: float = 3600.0
    #: seconds allowed for fetching one vocabulary
    vocabulary_timeout: float = 15.0


@attrs.frozen
class PublicationConfig:
    """The PUBLICATION_WORKFLOW section: the handle service and public URLs (handles.md)."""

    #: template of an item's public URL (plastrond.public_urls fields)
    public_url_pattern: str | None = None
    #: base URL of the handle service's API; None: publishing mints no handles
    handle_endpoint: str | None = None
    handle_jwt_token: str | None = attrs.field(default=None, repr=False)
    handle_prefix: str | None = None
    handle_repo: str | None = None
    #: seconds for connecting to and hearing from the handle service
    handle_timeout: float = 30.0

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
        """Every secret value in this configuration, for log redaction."""
        values = [
            self.repository.auth_token,
            self.repository.jwt_secret,
            self.repository.fedora_password,
        ]
        if self.message_broker is not None:
            values.append(self.message_broker.passcode)
        values.append(self.http_server.auth_token)
        values.append(self.publication.handle_jwt_token)
        return tuple(v for v in values if v)

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
                raise ConfigError(f"{self.path}: {self.name}: missing required key {key}")
            return None
        return value

    def text(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self._get(key, required)
        if value is None:
            return default
        if isinstance(value, bool | dict | list):
            raise ConfigError(f"{self.where(key)}: expected a string, got {_kind(value)}")
        return str(value)

    def req_str(self, key: str) -> str:
        value = self.text(key, required=True)
        assert value is not None
        return value

    def path_(self, key: str, *, required: bool = False) -> Path | None:
        value = self.text(key, required=required)
        return None if value is None else Path(value)

    def req_path(self, key: str) -> Path:
        value = self.path_(key, required=True)
        assert value is not None
        return value

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
        raise ConfigError(f"{section.path}: {section.name}: missing required key SERVER")
    return tuple(addresses)


def _repository(sec: _Section) -> RepositoryConfig:
    style = sec.text("TRANSACTION_STYLE", default="auto")
    if style not in ("auto", "fcrepo6", "fcrepo4"):
        raise ConfigError(
            f"{sec.where('TRANSACTION_STYLE')}: expected auto, fcrepo6 or fcrepo4, got {style!r}"
        )
    rest = _http_url(sec, "REST_ENDPOINT", sec.req_str("REST_ENDPOINT"), credentials=_FEDORA_CREDS)
    assert rest is not None
    relpath = sec.text("RELPATH", default="/") or "/"
    if not relpath.startswith("/"):
        relpath = "/" + relpath
    if any(_dot_segment(part) for part in relpath.split("/")):
        raise ConfigError(
            f"{sec.where('RELPATH')}: must be a container path below the repository root "
            f"(no . or .. segments), got {relpath!r}"
        )
    result = RepositoryConfig(
        rest_endpoint=rest,
        relpath=relpath,
        log_dir=sec.req_path("LOG_DIR"),
        origin=_origin(sec, rest),
        repo_external_url=_http_url(
            sec, "REPO_EXTERNAL_URL", sec.text("REPO_EXTERNAL_URL"), credentials=_FEDORA_CREDS
        )
        or None,
        auth_token=sec.text("AUTH_TOKEN"),
        jwt_secret=sec.text("JWT_SECRET"),
        client_cert=sec.path_("CLIENT_CERT"),
        client_key=sec.path_("CLIENT_KEY"),
        fedora_user=sec.text("FEDORA_USER"),
        fedora_password=sec.text("FEDORA_PASSWORD"),
        server_cert=sec.path_("SERVER_CERT"),
        transaction_style=style or "auto",
        timeout=sec.number("TIMEOUT", 60.0, float, minimum=0.001),
        log_format=_log_format(sec),
    )
    sec.finish()
    return result


def _dot_segment(segment: str) -> bool:
    """Whether a path segment is `.` or `..`, however many times percent-encoded."""
    from urllib.parse import unquote

    decoded, previous = segment, None
    while decoded != previous:
        previous, decoded = decoded, unquote(decoded)
    return decoded.strip() in (".", "..")


_FEDORA_CREDS = "FEDORA_USER and FEDORA_PASSWORD (or AUTH_TOKEN, JWT_SECRET)"


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


def _log_format(sec: _Section) -> str:
    value = (sec.text("LOG_FORMAT", default="text") or "text").strip().lower()
    if value not in LOG_FORMATS:
        raise ConfigError(f"{sec.where('LOG_FORMAT')}: expected text or json, got {value!r}")
    return value


def _admin(sec: _Section) -> AdminConfig:
    port = sec.number("PORT", 9180, int)
    if not 0 <= port < 65536:
        raise ConfigError(f"{sec.where('PORT')}: expected a TCP port, got {port}")
    result = AdminConfig(host=sec.text("HOST", default="127.0.0.1") or "127.0.0.1", port=port)
    sec.finish()
    return result


def _origin(sec: _Section, rest_endpoint: str) -> str | None:
    """REPOSITORY.ORIGIN as the REST root to send requests to (upstream Plastron 4.8's key).

    Written either as the full REST root (`http://fcrepo:8080/fcrepo/rest`) or as the server
    alone (`http://fcrepo:8080`), which takes REST_ENDPOINT's path.
    """
    origin = _http_url(sec, "ORIGIN", sec.text("ORIGIN"), credentials=_FEDORA_CREDS)
    if origin is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    path = parts.path.rstrip("/")
    if not path:
        path = urlsplit(rest_endpoint).path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _broker(sec: _Section, environ: Mapping[str, str]) -> BrokerConfig:
    dests = sec.section("DESTINATIONS", required=True)
    destinations = Destinations(
        jobs=dests.req_str("JOBS"),
        job_status=dests.req_str("JOB_STATUS"),
        job_progress=dests.text("JOB_PROGRESS"),
        synchronous_jobs=dests.text("SYNCHRONOUS_JOBS"),
        reindexing=dests.text("REINDEXING"),
    )
    dests.finish()
    # Upstream Plastron spells the heart-beats HEARTBEAT: {SEND, RECEIVE}; plastrond's own
    # HEARTBEAT_SEND_MS / HEARTBEAT_RECEIVE_MS are read when that section does not say.
    beats = sec.section("HEARTBEAT")
    heartbeat_send = beats.number("SEND", sec.number("HEARTBEAT_SEND_MS", 10_000, int), int)
    heartbeat_receive = beats.number(
        "RECEIVE", sec.number("HEARTBEAT_RECEIVE_MS", 10_000, int), int
    )
    beats.finish()
    initial = sec.number("RECONNECT_INITIAL_DELAY", 1.0, float, minimum=0.001)
    maximum = sec.number("RECONNECT_MAX_DELAY", 60.0, float, minimum=0.001)
    if maximum < initial:
        raise ConfigError(
            f"{sec.where('RECONNECT_MAX_DELAY')}: must not be less than RECONNECT_INITIAL_DELAY"
        )
    result = BrokerConfig(
        servers=_parse_servers(sec),
        message_store_dir=sec.req_path("MESSAGE_STORE_DIR"),
        destinations=destinations,
        public_uri_template=sec.text("PUBLIC_URI_TEMPLATE") or environ.get("PUBLIC_URI_TEMPLATE"),
        login=sec.text("LOGIN"),
        passcode=sec.text("PASSCODE"),
        virtual_host=sec.text("VIRTUAL_HOST"),
        use_tls=sec.flag("USE_TLS", False),
        tls_ca_file=sec.path_("TLS_CA_FILE"),
        heartbeat_send_ms=heartbeat_send,
        heartbeat_receive_ms=heartbeat_receive,
        prefetch=sec.number("PREFETCH", 10, int, minimum=1),
        max_queued_jobs=sec.number("MAX_QUEUED_JOBS", 16, int),
        max_concurrent_jobs=sec.number("MAX_CONCURRENT_JOBS", 4, int, minimum=1),
        max_concurrent_sync_jobs=sec.number("MAX_CONCURRENT_SYNC_JOBS", 4, int, minimum=1),
        reconnect_initial_delay=initial,
        reconnect_max_delay=maximum,
        connect_timeout=sec.number("CONNECT_TIMEOUT", 30.0, float, minimum=0.1),
        shutdown_grace_period=sec.number("SHUTDOWN_GRACE_PERIOD", 30.0, float),
        progress_interval=sec.number("PROGRESS_INTERVAL", 1.0, float),
        max_request_bytes=sec.number(
            "MAX_REQUEST_BYTES", MAX_REQUEST_BYTES_DEFAULT, int, minimum=1024
        ),
        max_completion_bytes=sec.number(
            "MAX_COMPLETION_BYTES", MAX_COMPLETION_BYTES_DEFAULT, int, minimum=1024
        ),
    )
    sec.finish()
    return result


def _commands(sec: _Section, environ: Mapping[str, str]) -> CommandsConfig:
    raw: dict[str, Mapping[str, Any]] = {}
    for name in sec.data:
        sub = sec.section(name)
        raw[name] = dict(sub.data)
        if name not in _KNOWN_COMMANDS:
            sec.warnings.append(f"{sec.path}: COMMANDS: unknown key {name} (no such command)")
    exp = sec.section("EXPORT")
    export = ExportConfig(
        ssh_private_key=exp.path_("SSH_PRIVATE_KEY"),
        allowed_output_dirs=exp.paths("ALLOWED_OUTPUT_DIRS"),
        sftp_accept_unknown_hosts=exp.flag("SFTP_ACCEPT_UNKNOWN_HOSTS", False),
        sftp_known_hosts=exp.path_("SFTP_KNOWN_HOSTS"),
        max_concurrent_items=exp.number("MAX_CONCURRENT_ITEMS", 4, int, minimum=1),
    )
    imp = sec.section("IMPORT")
    import_ = ImportConfig(
        ssh_private_key=imp.path_("SSH_PRIVATE_KEY"),
        # upstream Plastron's http server reads JOBS_DIR from the environment only
        jobs_dir=imp.path_("JOBS_DIR") or _env_path(environ, "JOBS_DIR"),
        allowed_binaries_dirs=imp.paths("ALLOWED_BINARIES_DIRS"),
        sftp_accept_unknown_hosts=imp.flag("SFTP_ACCEPT_UNKNOWN_HOSTS", False),
        sftp_known_hosts=imp.path_("SFTP_KNOWN_HOSTS"),
        max_concurrent_items=imp.number("MAX_CONCURRENT_ITEMS", 4, int, minimum=1),
        max_file_size=imp.number("MAX_FILE_SIZE", 50 * 1024**3, int, minimum=0),
        max_job_files_size=imp.number("MAX_JOB_FILES_SIZE", 2 * 1024**4, int, minimum=0),
    )
    upd = sec.section("UPDATE")
    update = UpdateConfig(
        max_concurrent_items=upd.number("MAX_CONCURRENT_ITEMS", 4, int, minimum=1),
    )
    # Sections of other commands (PUBLISH, ...) are read by those commands.
    if "EXPORT" in sec.data:
        exp.finish()
    if "IMPORT" in sec.data:
        imp.finish()
    if "UPDATE" in sec.data:
        upd.finish()
    return CommandsConfig(export=export, import_=import_, update=update, raw=raw)


def _publication(sec: _Section) -> PublicationConfig:
    from .public_urls import PublicUrlError, check_pattern

    pattern = sec.text("PUBLIC_URL_PATTERN")
    if pattern is not None:
        try:
            check_pattern(pattern)
        except PublicUrlError as e:
            raise ConfigError(f"{sec.where('PUBLIC_URL_PATTERN')}: {e}") from None
    endpoint = _http_url(
        sec, "HANDLE_ENDPOINT", sec.text("HANDLE_ENDPOINT"), credentials="HANDLE_JWT_TOKEN"
    )
    # With a handle service, everything it needs is required.
    needed = endpoint is not None
    result = PublicationConfig(
        public_url_pattern=sec.text("PUBLIC_URL_PATTERN", required=needed),
        handle_endpoint=endpoint.rstrip("/") if endpoint else None,
        handle_jwt_token=sec.text("HANDLE_JWT_TOKEN", required=needed),
        handle_prefix=sec.text("HANDLE_PREFIX", required=needed),
        handle_repo=sec.text("HANDLE_REPO", required=needed),
        handle_timeout=sec.number("HANDLE_TIMEOUT", 30.0, float, minimum=0.001),
    )
    sec.finish()
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
    result = ContentModelsConfig(
        dir=sec.path_("DIR"),
        vocabularies={k: v.strip() for k, v in vocabularies.items()},
        vocabulary_cache_seconds=sec.number("VOCABULARY_CACHE_SECONDS", 3600.0, float),
        vocabulary_timeout=sec.number("VOCABULARY_TIMEOUT", 15.0, float, minimum=0.001),
    )
    sec.finish()
    return result


def _http(sec: _Section) -> HttpServerConfig:
    port = sec.number("PORT", 5000, int)
    if not 0 <= port < 65536:
        raise ConfigError(f"{sec.where('PORT')}: expected a TCP port, got {port}")
    result = HttpServerConfig(
        host=sec.text("HOST", default="0.0.0.0") or "0.0.0.0",
        port=port,
        auth_token=sec.text("AUTH_TOKEN"),
        max_body_bytes=sec.number("MAX_BODY_BYTES", 4 * 1024 * 1024, int, minimum=1024),
        max_sparql_bytes=sec.number("MAX_SPARQL_BYTES", 1024 * 1024, int, minimum=1024),
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

    if data.get("REPOSITORY") is None:
        raise ConfigError(f"{path}: missing required section REPOSITORY")
    repository = _repository(_Section(path, "REPOSITORY", data["REPOSITORY"], warnings))
    broker = None
    if data.get("MESSAGE_BROKER") is not None:
        broker = _broker(_Section(path, "MESSAGE_BROKER", data["MESSAGE_BROKER"], warnings), env)
    commands = _commands(_Section(path, "COMMANDS", data.get("COMMANDS"), warnings), env)
    http = _http(_Section(path, "HTTP_SERVER", data.get("HTTP_SERVER"), warnings))
    solr_sec = _Section(path, "SOLR", data.get("SOLR"), warnings)
    solr = SolrConfig(url=solr_sec.text("URL"))
    solr_sec.finish()
    content_models = _content_models(
        _Section(path, "CONTENT_MODELS", data.get("CONTENT_MODELS"), warnings)
    )
    admin = None
    if data.get("ADMIN") is not None:
        admin = _admin(_Section(path, "ADMIN", data["ADMIN"], warnings))
    publication = _publication(
        _Section(path, "PUBLICATION_WORKFLOW", data.get("PUBLICATION_WORKFLOW"), warnings)
    )
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
