from __future__ import annotations

import re
import subprocess
import sys

import pytest

from strikeflow.cli import main

OCC = re.compile(r"\b[A-Z]{1,6}\d{6}[CP]\d{8}\b")


def test_demo_selects_contracts_and_explains_the_rejections(capsys):
    assert main(["demo", "--explain", "--seed", "42"]) == 0
    out = capsys.readouterr().out
    chosen = re.findall(r"chosen (\S+) ask", out)
    assert all(OCC.fullmatch(s) for s in chosen)
    # every sample trade but the strict MSFT one gets a contract of its own underlying
    assert [re.match(r"[A-Z]+", s).group() for s in chosen] == ["SPY", "AAPL", "TSLA"]
    assert "CHOSEN" in out
    assert "outside 0–1 DTE" in out
    assert "no eligible contract" in out  # the strict MSFT policy falls back
    assert re.search(r"sizing: \d+ × \d+\.\d\d = ", out)


def test_demo_is_deterministic_for_a_seed(capsys):
    main(["demo", "--explain", "--seed", "3"])
    first = capsys.readouterr().out
    main(["demo", "--explain", "--seed", "3"])
    assert capsys.readouterr().out == first


@pytest.mark.parametrize("at", ["yesterday", "2026-11-19T10:45"])
def test_a_bad_instant_is_a_usage_error(at, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--explain", "--at", at])
    assert exited.value.code == 2
    assert "--at" in capsys.readouterr().err


def test_the_console_script_runs():
    done = subprocess.run(
        [sys.executable, "-m", "strikeflow", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "demo" in done.stdout
