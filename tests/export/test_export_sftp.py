"""Exports over SFTP to the real OpenSSH sshd of the `sshd` fixture (items served from memory)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import bagit
import pytest

from plastrond.jobs import JobError
from tests.support.export import FAKE_ROOT, FakeFedora, export_config, run_export, unzip

pytestmark = pytest.mark.integration


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    folder = tmp_path / "remote"
    folder.mkdir()
    return folder


@pytest.fixture
def fake() -> FakeFedora:
    fake = FakeFedora()
    fake.add_item("a", pages=[[("p1.tif", "image/tiff", b"\x01" * 3_000_000)]])
    fake.add_item("b", item_files=[("notes.txt", "text/plain", b"notes")])
    return fake


def ed25519_public_key(tmp_path: Path) -> str:
    key = tmp_path / "other_host_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30
    )
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


async def test_export_over_sftp(sshd, fake: FakeFedora, remote: Path, tmp_path: Path) -> None:
    config = export_config(
        FAKE_ROOT, ssh_private_key=sshd.private_key, sftp_known_hosts=sshd.known_hosts
    )
    dest = f"{sshd.url}{remote}/export-1"
    (remote / "export-1.zip").write_bytes(b"an older export, replaced")
    async with fake.client() as repo:
        result = await run_export(
            config,
            repo,
            [f"{FAKE_ROOT}/a", f"{FAKE_ROOT}/b"],
            output_dest=dest,
            export_binaries="true",
        )
    assert result.body["type"] == "export_complete"
    assert result.body["download_uri"] == f"{dest}.zip"
    assert [p.name for p in remote.iterdir()] == ["export-1.zip"]
    bag = unzip(remote / "export-1.zip", tmp_path / "x")
    bagit.Bag(str(bag)).validate()
    assert (bag / "data" / "a" / "p1.tif").stat().st_size == 3_000_000
    assert (bag / "data" / "b" / "notes.txt").read_bytes() == b"notes"


async def test_unknown_host_key_is_refused(
    sshd, fake: FakeFedora, remote: Path, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    config = export_config(FAKE_ROOT, ssh_private_key=sshd.private_key, sftp_known_hosts=known)
    async with fake.client() as repo:
        with pytest.raises(JobError) as info:
            await run_export(config, repo, [f"{FAKE_ROOT}/a"], output_dest=f"{sshd.url}{remote}/x")
    assert str(info.value) == (
        f"SFTP host {sshd.host}:{sshd.port} is not in known_hosts; refused "
        "(COMMANDS.EXPORT.SFTP_KNOWN_HOSTS, SFTP_ACCEPT_UNKNOWN_HOSTS)"
    )
    assert list(remote.iterdir()) == []
    # Nothing was asked of the repository either: the destination is checked first.
    assert fake.requests == []


async def test_changed_host_key_is_refused_even_when_unknown_hosts_are_accepted(
    sshd, fake: FakeFedora, remote: Path, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sshd.host}]:{sshd.port} {ed25519_public_key(tmp_path)}\n")
    config = export_config(
        FAKE_ROOT,
        ssh_private_key=sshd.private_key,
        sftp_known_hosts=known,
        sftp_accept_unknown_hosts=True,
    )
    async with fake.client() as repo:
        with pytest.raises(JobError, match="offered a key that does not match known_hosts"):
            await run_export(config, repo, [f"{FAKE_ROOT}/a"], output_dest=f"{sshd.url}{remote}/x")
    assert list(remote.iterdir()) == []


async def test_accepted_unknown_host_is_remembered(
    sshd, fake: FakeFedora, remote: Path, tmp_path: Path
) -> None:
    known = tmp_path / "new_known_hosts"
    config = export_config(
        FAKE_ROOT,
        ssh_private_key=sshd.private_key,
        sftp_known_hosts=known,
        sftp_accept_unknown_hosts=True,
    )
    async with fake.client() as repo:
        result = await run_export(
            config, repo, [f"{FAKE_ROOT}/b"], output_dest=f"{sshd.url}{remote}/y.zip"
        )
    assert result.body["type"] == "export_complete"
    assert (remote / "y.zip").exists()
    assert known.read_text().startswith(f"[{sshd.host}]:{sshd.port} ssh-ed25519 ")


async def test_wrong_key_is_refused(sshd, fake: FakeFedora, remote: Path, tmp_path: Path) -> None:
    key = tmp_path / "wrong_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f", str(key)],
        check=True,
        timeout=60,
    )
    config = export_config(FAKE_ROOT, ssh_private_key=key, sftp_known_hosts=sshd.known_hosts)
    async with fake.client() as repo:
        with pytest.raises(JobError, match=f"SFTP login as {sshd.user} at .* refused"):
            await run_export(config, repo, [f"{FAKE_ROOT}/a"], output_dest=f"{sshd.url}{remote}/z")


async def test_missing_remote_folder(sshd, fake: FakeFedora, remote: Path) -> None:
    config = export_config(
        FAKE_ROOT, ssh_private_key=sshd.private_key, sftp_known_hosts=sshd.known_hosts
    )
    async with fake.client() as repo:
        with pytest.raises(JobError, match=f"cannot write {remote}/nowhere on SFTP host"):
            await run_export(
                config, repo, [f"{FAKE_ROOT}/a"], output_dest=f"{sshd.url}{remote}/nowhere/z"
            )


async def test_missing_key_file(sshd, fake: FakeFedora, remote: Path, tmp_path: Path) -> None:
    config = export_config(
        FAKE_ROOT, ssh_private_key=tmp_path / "absent", sftp_known_hosts=sshd.known_hosts
    )
    async with fake.client() as repo:
        with pytest.raises(JobError, match="absent"):
            await run_export(config, repo, [f"{FAKE_ROOT}/a"], output_dest=f"{sshd.url}{remote}/k")


async def test_unusable_key_file(sshd, fake: FakeFedora, remote: Path, tmp_path: Path) -> None:
    key = tmp_path / "not_a_key"
    key.write_text("hello\n")
    config = export_config(FAKE_ROOT, ssh_private_key=key, sftp_known_hosts=sshd.known_hosts)
    async with fake.client() as repo:
        with pytest.raises(JobError, match="not_a_key is not a usable private key"):
            await run_export(config, repo, [f"{FAKE_ROOT}/a"], output_dest=f"{sshd.url}{remote}/k")
