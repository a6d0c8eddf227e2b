"""``sipguard certs init|client|show``: real files under a temp state_dir; exit statuses 0/1/2."""

from __future__ import annotations

import argparse
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509

from sipguard import certs
from sipguard.certs_cli import add_parser, main_certs
from sipguard.cli import main

DOMAIN = "sip.example.test"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(
        f'[server]\ndomain = "{DOMAIN}"\nstate_dir = "{(tmp_path / "state").as_posix()}"\n'
        '[[listen]]\ntransport = "udp"\naddress = "127.0.0.1:0"\n'
        '[[listen]]\ntransport = "tcp"\naddress = "[::1]:0"\n',
        encoding="utf-8",
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main_certs(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def fields(out: str) -> dict[str, str]:
    return dict(re.split(r":\s+", line, maxsplit=1) for line in out.splitlines() if line)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_init_creates_ca_and_server_certificate_for_the_policy(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, "init", "--config", str(config), "--host", "edge.example.test", "--ip", "192.0.2.7"
    )
    assert (status, err) == (0, "")
    directory = config.parent / "state" / "certs"
    shown = fields(out)
    assert shown["CA certificate"] == str(directory / "ca.crt")
    assert shown["server key"] == str(directory / "server.key")
    assert shown["server names"] == f"{DOMAIN}, edge.example.test, 127.0.0.1, ::1, 192.0.2.7"
    assert shown["server fingerprint"] == certs.fingerprint(load(directory / "server.crt"))
    for key in ("ca.key", "server.key"):
        assert stat.S_IMODE((directory / key).stat().st_mode) == 0o600
    info = certs.summary(load(directory / "server.crt"))
    assert info.issuer == f"CN=sipguard CA {DOMAIN}"


def test_init_refuses_to_replace_without_force(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "init", "--config", str(config))[0] == 0
    directory = config.parent / "state" / "certs"
    before = (directory / "ca.key").read_bytes()
    status, out, err = run(capsys, "init", "--config", str(config))
    assert (status, out) == (1, "")
    assert err == (
        f"sipguard certs init: {directory / 'ca.key'} exists (use --force to replace it)\n"
    )
    assert (directory / "ca.key").read_bytes() == before
    assert run(capsys, "init", "--config", str(config), "--force")[0] == 0
    assert (directory / "ca.key").read_bytes() != before


def test_init_checks_every_file_before_writing_any(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "elsewhere"
    certs.self_signed(directory, hostnames=["localhost"], addresses=[])
    status, _, err = run(capsys, "init", "--config", str(config), "--dir", str(directory))
    assert status == 1
    assert str(directory / "server.key") in err
    assert not (directory / "ca.key").exists()


def test_client_needs_the_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "none"
    status, out, err = run(capsys, "client", "trunk1", "--dir", str(directory))
    assert (status, out) == (1, "")
    assert err == f"sipguard certs client: no CA in {directory} (run `sipguard certs init` first)\n"
    assert not directory.exists()


def test_client_issues_from_the_ca_of_init(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "init", "--config", str(config))[0] == 0
    status, out, err = run(capsys, "client", "carrier-a", "--config", str(config))
    assert (status, err) == (0, "")
    directory = config.parent / "state" / "certs"
    shown = fields(out)
    assert shown["client certificate"] == str(directory / "carrier-a.crt")
    cert = load(directory / "carrier-a.crt")
    assert shown["client fingerprint"] == certs.fingerprint(cert)
    assert cert.issuer == load(directory / "ca.crt").subject
    assert stat.S_IMODE((directory / "carrier-a.key").stat().st_mode) == 0o600
    again = run(capsys, "client", "carrier-a", "--config", str(config))
    assert again[0] == 1
    assert "exists (use --force to replace it)" in again[2]
    assert run(capsys, "client", "carrier-a", "--config", str(config), "--force")[0] == 0


@pytest.mark.parametrize("name", ["ca", "../evil", "two words"])
def test_bad_client_names_are_usage_errors(
    name: str, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "init", "--config", str(config))[0] == 0
    status, out, err = run(capsys, "client", name, "--config", str(config))
    assert (status, out) == (2, "")
    assert err.startswith("sipguard certs client: client name")
    assert err.count("\n") == 1


def test_show_prints_names_validity_and_fingerprint(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "init", "--config", str(config), "--dir", str(tmp_path / "c"))[0] == 0
    server = tmp_path / "c" / "server.crt"
    status, out, err = run(capsys, "show", str(server))
    assert (status, err) == (0, "")
    shown = fields(out)
    info = certs.summary(load(server))
    assert shown["subject"] == f"CN={DOMAIN}"
    assert shown["DNS"] == DOMAIN
    assert shown["IP"] == "127.0.0.1, ::1"
    assert shown["not after"] == info.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert shown["fingerprint"] == info.fingerprint
    assert "CA" not in shown
    chain = tmp_path / "fullchain.pem"
    chain.write_bytes(server.read_bytes() + (tmp_path / "c" / "ca.crt").read_bytes())
    status, out, _ = run(capsys, "show", str(chain))
    leaf, root = out.split("\n\n")
    assert (status, fields(leaf), fields(root)["CA"]) == (0, shown, "yes")


def test_show_errors(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.crt"
    assert run(capsys, "show", str(missing)) == (
        1,
        "",
        f"sipguard certs show: {missing}: No such file or directory\n",
    )
    assert run(capsys, "show", str(config)) == (
        1,
        "",
        f"sipguard certs show: {config}: not a PEM or DER certificate\n",
    )


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "init", "--ip", "1.2.3")
    assert status == 2
    assert "not an IP address: '1.2.3'" in err
    directory = str(tmp_path / "d")
    status, _, err = run(capsys, "init", "--dir", directory, "--host", "bad_name")
    assert status == 2
    assert err == "sipguard certs init: not a DNS host name: 'bad_name'\n"
    assert not (tmp_path / "d" / "ca.key").exists()
    assert run(capsys, "client")[0] == 2
    status, _, err = run(capsys)
    assert status == 2
    assert err.startswith("usage: sipguard certs")


def test_bad_config_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\ndomian = 'x'\n", encoding="utf-8")
    status, _, err = run(capsys, "init", "--config", str(bad))
    assert status == 2
    assert err.startswith(f"{bad}: server.domian: unknown key")
    assert err.count("\n") == 1


def test_wired_into_the_sipguard_command(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "wired"
    assert main(["certs", "init", "--config", str(config), "--dir", str(directory)]) == 0
    capsys.readouterr()
    assert main(["certs", "show", str(directory / "ca.crt")]) == 0
    assert "CA:          yes\n" in capsys.readouterr().out
    parser = argparse.ArgumentParser(prog="sipguard")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["certs", "client", "t1", "--dir", str(directory)])
    assert args.handler(args) == 0
    assert (directory / "t1.crt").is_file()
