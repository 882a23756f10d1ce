"""First boot from callbox.toml: validation names the key and the fix; apply is complete and idempotent."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from callbox import firstboot
from callbox.cli import main
from callbox.firstboot import MOVED, ConfigError, parse_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "scripts" / "callbox.example.toml").read_text(encoding="utf-8")
MINIMAL = '[box]\norganisation = "阳光口腔诊所"\ncallback_number = "+86 10 8888 6666"\n'


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def card(tmp_path: Path) -> dict[str, Path]:
    boot, root, data = tmp_path / "bootfs", tmp_path / "rootfs", tmp_path / "data"
    boot.mkdir()
    root.mkdir()
    (boot / "callbox.toml").write_text(EXAMPLE, encoding="utf-8")
    (boot / "cmdline.txt").write_text("console=serial0,115200 root=PARTUUID=1234-02 rootwait\n")
    return {"boot": boot, "root": root, "data": data}


# -- validation ------------------------------------------------------------------------------------
def test_example_file_is_valid_and_documented_line_by_line():
    config = parse_config(EXAMPLE)
    assert config.box.rules == "cn" and config.sip[0].id == "sip1" and config.gsm and config.wifi
    assert config.ups is None  # enabled = false in the example
    lines = EXAMPLE.splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#"), f"undocumented setting: {line!r}"


@pytest.mark.parametrize(
    ("text", "key", "fix"),
    [
        ("[box]\norganisation = 'x'\n", "box.callback_number", "callback_number ="),
        (MINIMAL + "orgnisation = 'y'\n", "box.orgnisation", "did you mean 'organisation'"),
        (MINIMAL + "[wifi]\nssid = 'a'\npsk = 'short'\n", "wifi.psk", "8 to 63"),
        (MINIMAL + "[[sip]]\nuser = '1001'\n", "sip[1].domain", "domain ="),
        (MINIMAL + "[[sip]]\nuser = '1001'\ndomain = 'pbx'\nport = '5060'\n", "sip[1].port", "whole number"),
        (MINIMAL + "[gsm]\nsim_pin = '12a4'\n", "gsm.sim_pin", "in quotes"),
        (MINIMAL + "[gsm]\nmodel = 'nokia'\n", "gsm.model", "sim7600"),
        (MINIMAL + "rules = 'uk'\n", "box.rules", '"cn", "us" or "eu"'),
        (MINIMAL + "timezone = 'Beijing'\n", "box.timezone", "Asia/Shanghai"),
        (MINIMAL + "[wifi]\nssid = 'a'\ncountry = 'china'\n", "wifi.country", "two-letter"),
        (MINIMAL + "[ups]\ngpio = 40\n", "ups.gpio", "0..27"),
        ("[box\norganisation = 'x'\n", "(file)", "quotes"),
        (MINIMAL + "[sipp]\n", "sipp", "did you mean 'sip'"),
        (MINIMAL + "[[sip]]\nid = 'a'\nuser = '1001'\ndomain = 'pbx'\n[[sip]]\nid = 'a'\nuser = '1002'\ndomain = 'pbx'\n",
         "sip.id", "its own id"),
    ],
)
def test_bad_file_names_the_key_and_the_fix(text, key, fix):
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert err.value.key == key
    assert fix in str(err.value)
    assert "Fix:" in str(err.value)


def test_lines_toml_with_a_line_id_twice_is_refused_with_the_fix(tmp_path):
    from callbox.provision import ProvisionError, read_lines

    (tmp_path / "lines.toml").write_text('[[lines]]\nid = "a"\nkind = "sip"\n[[lines]]\nid = "a"\nkind = "gsm"\n')
    with pytest.raises(ProvisionError, match="its own id"):
        read_lines(tmp_path)


def test_two_sip_accounts_become_two_sip_lines(tmp_path):
    """Both lines share the process's one pjsua2 endpoint (tests/sip/test_sip_two_lines.py)."""
    from callbox.provision import read_lines

    text = MINIMAL + ("[[sip]]\nid = 'front'\nuser = '1001'\ndomain = 'pbx'\n"
                      "[[sip]]\nid = 'back'\nuser = '1002'\ndomain = 'pbx'\n")
    config = parse_config(text)
    assert [a.id for a in config.sip] == ["front", "back"]
    (tmp_path / "lines.toml").write_text('[[lines]]\nid = "front"\nkind = "sip"\n[[lines]]\nid = "back"\nkind = "sip"\n')
    assert [line["id"] for line in read_lines(tmp_path)] == ["front", "back"]


def test_windows_notepad_bom_and_crlf_are_fine():
    assert parse_config("\ufeff" + MINIMAL.replace("\n", "\r\n")).box.organisation == "阳光口腔诊所"


def test_redact_keeps_comments_and_layout():
    text = EXAMPLE
    red = firstboot.redact(text)
    assert len(red.splitlines()) == len(text.splitlines())
    assert "change-me-wifi-password" not in red and "change-me-sip-password" not in red and "1234\"" not in red
    assert "# The Wi-Fi password" in red
    assert parse_config(red).wifi.psk == MOVED


# -- apply ------------------------------------------------------------------------------------------
def test_apply_sets_up_the_box_and_moves_secrets(card):
    result = firstboot.apply(card["boot"], card["data"], card["root"])
    assert result.changed
    data, boot = card["data"], card["boot"]

    from callbox.provision import read_lines
    from callbox.store.db import open_store

    store = open_store(data)
    org = store.organisation()
    assert (org.name, org.name_en, org.rules, org.industry, org.timezone) == (
        "阳光口腔诊所", "Sunshine Dental Clinic", "cn", "medical", "Asia/Shanghai")
    store.close()

    lines = read_lines(data)
    assert [(line["id"], line["kind"]) for line in lines] == [("sip1", "sip"), ("gsm1", "gsm")]
    assert lines[0]["password"] == "change-me-sip-password" and lines[1]["sim_pin"] == "1234"
    assert mode(data / "lines.toml") == 0o600

    keyfile = card["root"] / firstboot.NM_CONNECTION
    assert mode(keyfile) == 0o600
    text = keyfile.read_text()
    assert "ssid=Clinic-Office" in text and "psk=change-me-wifi-password" in text and "key-mgmt=wpa-psk" in text
    assert "cfg80211.ieee80211_regdom=CN" in (boot / "cmdline.txt").read_text()
    assert (card["root"] / "etc" / "timezone").read_text().strip() == "Asia/Shanghai"

    # secrets: off the boot partition, 0600 on the data partition
    boot_text = (boot / "callbox.toml").read_text()
    for secret in ("change-me-wifi-password", "change-me-sip-password", "4821-0937-5562"):
        assert secret not in boot_text
    secrets = data / "secrets" / "boot-secrets.json"
    assert mode(secrets) == 0o600 and mode(secrets.parent) == 0o700
    assert json.loads(secrets.read_text())["wifi.psk"] == "change-me-wifi-password"
    assert (data / "setup-code.txt").read_text().strip() == "4821-0937-5562" and mode(data / "setup-code.txt") == 0o600
    assert "safe" in (data / "recording-passphrase-hint.txt").read_text()


def test_apply_is_idempotent_and_reapplies_edits_with_moved_secrets(card):
    firstboot.apply(card["boot"], card["data"], card["root"])
    snapshot = {p: p.read_bytes() for p in card["data"].rglob("*") if p.is_file() and "sqlite3" not in p.name}
    again = firstboot.apply(card["boot"], card["data"], card["root"])
    assert not again.changed and "nothing to do" in again.notes[0]
    assert {p: p.read_bytes() for p in snapshot} == snapshot

    # the technician changes the Wi-Fi name but leaves the moved password alone
    cfg = card["boot"] / "callbox.toml"
    cfg.write_text(cfg.read_text().replace('ssid = "Clinic-Office"', 'ssid = "Clinic-5G"'))
    result = firstboot.apply(card["boot"], card["data"], card["root"])
    assert result.changed
    keyfile = (card["root"] / firstboot.NM_CONNECTION).read_text()
    assert "ssid=Clinic-5G" in keyfile and "psk=change-me-wifi-password" in keyfile
    assert "change-me-sip-password" in (card["data"] / "lines.toml").read_text()


def test_changed_organisation_is_reported_not_applied(card):
    firstboot.apply(card["boot"], card["data"], card["root"])
    cfg = card["boot"] / "callbox.toml"
    cfg.write_text(cfg.read_text().replace('organisation = "阳光口腔诊所"', 'organisation = "别的诊所"'))
    result = firstboot.apply(card["boot"], card["data"], card["root"])
    assert any("already set up" in note for note in result.notes)


def test_moved_secret_without_stored_value_is_a_clear_error(card, tmp_path):
    cfg = card["boot"] / "callbox.toml"
    cfg.write_text(MINIMAL + f'[wifi]\nssid = "x"\npsk = "{MOVED}"\n')
    with pytest.raises(ConfigError) as err:
        firstboot.apply(card["boot"], card["data"], card["root"])
    assert err.value.key == "wifi.psk" and "write the real value" in str(err.value)


def test_cli_firstboot_exit_codes(card, capsys):
    args = ["--data", str(card["data"]), "firstboot", "--boot", str(card["boot"]), "--root", str(card["root"])]
    assert main(args) == 0
    assert "removed secrets" in capsys.readouterr().out
    (card["boot"] / "callbox.toml").write_text(MINIMAL + "[wifi]\nssid = 'x'\npsk = 'short'\n")
    assert main(args) == 2
    assert "wifi.psk" in capsys.readouterr().err
    empty = card["boot"].parent / "emptyboot"
    empty.mkdir()
    assert main(["--data", str(card["data"]), "firstboot", "--boot", str(empty)]) == 0
