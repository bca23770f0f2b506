"""OCC symbols: known examples both ways, round trips, fuzzing, and the malformed catalogue."""

from __future__ import annotations

import string
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strikeflow.domain.enums import Right
from strikeflow.domain.errors import InvalidOccSymbol
from strikeflow.domain.occ import OccSymbol, format_occ, parse_occ
from tests.hypothesis_profiles import examples

FUZZ = settings(derandomize=True, max_examples=examples(300), deadline=None)

KNOWN = [
    ("AAPL240119C00190000", "AAPL", date(2024, 1, 19), "C", Decimal("190")),
    ("SPY240304P00480000", "SPY", date(2024, 3, 4), "P", Decimal("480")),
    ("XYZ250620C00012500", "XYZ", date(2025, 6, 20), "C", Decimal("12.5")),
    ("XYZ250620P00000500", "XYZ", date(2025, 6, 20), "P", Decimal("0.5")),
    ("AMZN261218C01234567", "AMZN", date(2026, 12, 18), "C", Decimal("1234.567")),
    ("AAPL1240119C00190000", "AAPL1", date(2024, 1, 19), "C", Decimal("190")),
    ("F240119P00012000", "F", date(2024, 1, 19), "P", Decimal("12")),
    ("GOOGL1240119C00150000", "GOOGL1", date(2024, 1, 19), "C", Decimal("150")),
    ("BRKB991231P99999999", "BRKB", date(2099, 12, 31), "P", Decimal("99999.999")),
    ("A000101C00000001", "A", date(2000, 1, 1), "C", Decimal("0.001")),
]


@pytest.mark.parametrize(("symbol", "root", "expiration", "right", "strike"), KNOWN)
def test_parse_known_symbols(symbol, root, expiration, right, strike):
    parsed = parse_occ(symbol)
    assert (parsed.root, parsed.expiration, parsed.right, parsed.strike) == (
        root,
        expiration,
        right,
        strike,
    )
    assert isinstance(parsed.right, Right)
    assert isinstance(parsed.strike, Decimal)


@pytest.mark.parametrize(("symbol", "root", "expiration", "right", "strike"), KNOWN)
def test_format_known_symbols(symbol, root, expiration, right, strike):
    assert format_occ(root, expiration, right, strike) == symbol
    assert format_occ(root, expiration, Right(right), strike) == symbol
    assert str(OccSymbol(root, expiration, Right(right), strike)) == symbol


def test_strike_accepts_int_str_and_float():
    expected = "XYZ250620C00012500"
    for strike in (Decimal("12.500"), "12.5", "12.500", 12.5):
        assert format_occ("XYZ", date(2025, 6, 20), "C", strike) == expected
    assert format_occ("SPY", date(2024, 3, 4), "P", 480) == "SPY240304P00480000"
    assert format_occ("XYZ", date(2025, 6, 20), "C", 0.1) == "XYZ250620C00000100"


def test_strike_is_stored_canonically():
    contract = OccSymbol("AAPL", date(2024, 1, 19), Right.CALL, Decimal("190.000"))
    assert str(contract.strike) == "190"
    assert str(parse_occ("XYZ250620C00012500").strike) == "12.5"


def test_padded_form_parses_like_the_alpaca_form():
    padded = parse_occ("AAPL  240119C00190000")
    assert padded == parse_occ("AAPL240119C00190000")
    assert padded.symbol == "AAPL240119C00190000"
    assert padded.padded == "AAPL  240119C00190000"
    assert parse_occ("F     240119P00012000").root == "F"
    six = parse_occ("GOOGL1240119C00150000")
    assert six.padded == six.symbol == "GOOGL1240119C00150000"


def test_digit_ending_root_makes_some_typos_grammatical():
    # Alpaca once returned this malformed symbol (a stray digit in the date). By the grammar it
    # is a valid symbol for the adjusted root XOM2, expiring 2024-12-20: the parser cannot know
    # better, and must not pretend to.
    parsed = parse_occ("XOM2241220P00280000")
    assert parsed.root == "XOM2"
    assert parsed.expiration == date(2024, 12, 20)
    assert parsed.right == "P"
    assert parsed.strike == Decimal("280")


def test_leap_day():
    assert parse_occ("AAPL240229C00190000").expiration == date(2024, 2, 29)
    with pytest.raises(InvalidOccSymbol, match="not a real date"):
        parse_occ("AAPL230229C00190000")


# --- round trips -------------------------------------------------------------------------

roots = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=6)
expirations = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
rights = st.sampled_from(["C", "P", Right.CALL, Right.PUT])
strike_millis = st.integers(min_value=1, max_value=10**8 - 1)


def build(root: str, expiration: date, right: str, millis: int, pad: bool = False) -> str:
    """An independent spelling of the symbol, to check the module against."""
    head = root.ljust(6) if pad else root
    return f"{head}{expiration.strftime('%y%m%d')}{right}{millis:08d}"


@FUZZ
@given(roots, expirations, rights, strike_millis)
def test_format_then_parse_gives_back_the_parts(root, expiration, right, millis):
    strike = Decimal(millis).scaleb(-3)
    symbol = format_occ(root, expiration, right, strike)
    assert symbol == build(root, expiration, right, millis)
    parsed = parse_occ(symbol)
    assert (parsed.root, parsed.expiration, parsed.right, parsed.strike) == (
        root,
        expiration,
        right,
        strike,
    )
    assert parse_occ(parsed.padded) == parsed


@FUZZ
@given(roots, expirations, rights, strike_millis, st.booleans())
def test_parse_then_format_gives_back_the_string(root, expiration, right, millis, pad):
    symbol = build(root, expiration, right, millis, pad=pad)
    parsed = parse_occ(symbol)
    assert (parsed.padded if pad else parsed.symbol) == symbol
    assert len(parsed.padded) == 21
    assert format_occ(parsed.root, parsed.expiration, parsed.right, parsed.strike) == build(
        root, expiration, right, millis
    )


# --- fuzzing: a valid symbol or InvalidOccSymbol, never anything else ----------------------


def parses_faithfully_or_refuses(candidate: object) -> None:
    try:
        parsed = parse_occ(candidate)
    except InvalidOccSymbol as exc:
        refusal = str(exc)
    else:
        assert candidate in (parsed.symbol, parsed.padded)
        return
    assert refusal.startswith("invalid OCC symbol ")
    assert len(refusal) < 300


@FUZZ
@given(st.text())
def test_fuzz_text(candidate):
    parses_faithfully_or_refuses(candidate)


@FUZZ
@given(st.text(alphabet=string.ascii_uppercase + string.digits + "CP ", max_size=22))
def test_fuzz_text_near_the_grammar(candidate):
    parses_faithfully_or_refuses(candidate)


@FUZZ
@given(st.binary())
def test_fuzz_binary(candidate):
    with pytest.raises(InvalidOccSymbol, match="expected str, got bytes"):
        parse_occ(candidate)


@FUZZ
@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.decimals(),
        st.lists(st.text(), max_size=3),
        st.dates(),
    )
)
def test_fuzz_other_types(candidate):
    with pytest.raises(InvalidOccSymbol, match="expected str"):
        parse_occ(candidate)


@st.composite
def mutated_symbols(draw):
    root, expiration, right, millis = (
        draw(roots),
        draw(expirations),
        draw(rights),
        draw(strike_millis),
    )
    symbol = build(root, expiration, right, millis, pad=draw(st.booleans()))
    chars = st.one_of(
        st.sampled_from(string.ascii_uppercase + string.digits + " \n\x00"),
        st.text(min_size=1, max_size=1),
    )
    at = draw(st.integers(min_value=0, max_value=len(symbol) - 1))
    edit = draw(st.sampled_from(["insert", "delete", "replace"]))
    if edit == "insert":
        return symbol[:at] + draw(chars) + symbol[at:]
    if edit == "delete":
        return symbol[:at] + symbol[at + 1 :]
    return symbol[:at] + draw(chars) + symbol[at + 1 :]


@FUZZ
@given(mutated_symbols())
def test_fuzz_mutated_symbols(candidate):
    parses_faithfully_or_refuses(candidate)


def test_an_object_whose_repr_raises_still_gets_invalid_occ_symbol():
    class Hostile:
        def __repr__(self):
            raise RuntimeError("no repr for you")

    with pytest.raises(InvalidOccSymbol, match="expected str, got Hostile"):
        parse_occ(Hostile())


# --- the malformed catalogue ---------------------------------------------------------------

MALFORMED = {
    "seven-digit date": ("AAPL2401191C00190000", "not a real date"),
    "month 13": ("AAPL241319C00190000", "not a real date"),
    "Feb 30": ("AAPL240230C00190000", "not a real date"),
    "Feb 29 non-leap": ("AAPL230229C00190000", "not a real date"),
    "day 00": ("AAPL240100C00190000", "not a real date"),
    "zero strike": ("AAPL240119C00000000", "strike must be positive"),
    "lowercase root": ("aapl240119C00190000", "lowercase"),
    "lowercase right": ("AAPL240119c00190000", "lowercase"),
    "seven-char root": ("ABCDEFG240119C00190000", "longer than 21"),
    "missing right": ("AAPL24011900190000", "expected ROOT"),
    "X as right": ("AAPL240119X00190000", "expected ROOT"),
    "short strike": ("AAPL240119C0019000", "expected ROOT"),
    "no root": ("240119C00190000", "expected ROOT"),
    "trailing newline": ("AAPL240119C00190000\n", "whitespace"),
    "trailing space": ("AAPL240119C00190000 ", "whitespace"),
    "leading space": (" AAPL240119C00190000", "whitespace"),
    "padding too narrow": ("AAPL 240119C00190000", "exactly 6"),
    "padding too wide": ("AAPL   240119C00190000", "longer than 21"),
    "space inside root": ("AA PL240119C00190000", "expected ROOT"),
    "NUL byte": ("AAPL\x00240119C00190000", "control"),
    "Arabic-Indic digit in day": ("AAPL24011٩C00190000", "non-ASCII"),
    "Arabic-Indic digits in year": ("AAPL٢٤0119C00190000", "non-ASCII"),
    "Devanagari digit in strike": ("AAPL240119C0019000०", "non-ASCII"),
    "fullwidth letter": ("ＡAPL240119C00190000", "non-ASCII"),
    "Cyrillic A": ("АAPL240119C00190000", "non-ASCII"),
    "empty": ("", "empty"),
    "None": (None, "expected str, got NoneType"),
    "int": (12345, "expected str, got int"),
    "bytes": (b"AAPL240119C00190000", "expected str, got bytes"),
}


@pytest.mark.parametrize(("bad", "problem"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_symbols_are_refused_clearly(bad, problem):
    with pytest.raises(InvalidOccSymbol) as caught:
        parse_occ(bad)
    message = str(caught.value)
    assert repr(bad) in message
    assert problem in message


def test_a_huge_input_is_refused_with_a_short_message():
    bad = "A" * 10_000
    with pytest.raises(InvalidOccSymbol) as caught:
        parse_occ(bad)
    message = str(caught.value)
    assert repr("A" * 64) in message
    assert "10000 chars" in message
    assert len(message) < 200


def test_invalid_occ_symbol_is_a_value_error():
    with pytest.raises(ValueError, match="invalid OCC symbol"):
        parse_occ("nope")


# --- format_occ refusals -------------------------------------------------------------------

GOOD = {"root": "AAPL", "expiration": date(2024, 1, 19), "right": "C", "strike": Decimal("190")}

BAD_PARTS = {
    "empty root": ("root", "", "root must be"),
    "long root": ("root", "TOOLONGX", "root must be"),
    "lowercase root": ("root", "aapl", "root must be"),
    "root with space": ("root", "AA PL", "root must be"),
    "root not str": ("root", 7, "root must be"),
    "zero strike": ("strike", 0, "positive"),
    "negative strike": ("strike", -1, "positive"),
    "negative str strike": ("strike", "-1", "positive"),
    "four decimals": ("strike", Decimal("1.2345"), "3 decimal places"),
    "float with four decimals": ("strike", 1.2345, "3 decimal places"),
    "NaN": ("strike", Decimal("NaN"), "finite"),
    "sNaN": ("strike", Decimal("sNaN"), "finite"),
    "Decimal infinity": ("strike", Decimal("Infinity"), "finite"),
    "float inf": ("strike", float("inf"), "finite"),
    "float nan": ("strike", float("nan"), "finite"),
    "strike too big": ("strike", 100000, "below 100000"),
    "str not a number": ("strike", "12,5", "plain decimal"),
    "str with underscore": ("strike", "1_000", "plain decimal"),
    "bool strike": ("strike", True, "got bool"),
    "None strike": ("strike", None, "got NoneType"),
    "datetime": ("expiration", datetime(2024, 1, 19, 16, 0), "got datetime"),
    "str expiration": ("expiration", "2024-01-19", "got str"),
    "year 1999": ("expiration", date(1999, 12, 17), "2000-2099"),
    "year 2100": ("expiration", date(2100, 1, 15), "2000-2099"),
    "right X": ("right", "X", "'C' or 'P'"),
    "right lowercase": ("right", "c", "'C' or 'P'"),
    "right CALL": ("right", "CALL", "'C' or 'P'"),
}


@pytest.mark.parametrize(("field", "bad", "problem"), BAD_PARTS.values(), ids=BAD_PARTS.keys())
def test_format_refuses_bad_parts(field, bad, problem):
    with pytest.raises(InvalidOccSymbol) as caught:
        format_occ(**{**GOOD, field: bad})
    message = str(caught.value)
    assert repr(bad) in message
    assert problem in message


@pytest.mark.parametrize(("field", "bad", "problem"), BAD_PARTS.values(), ids=BAD_PARTS.keys())
def test_occ_symbol_refuses_bad_parts(field, bad, problem):
    with pytest.raises(InvalidOccSymbol, match="invalid"):
        OccSymbol(**{**GOOD, field: bad})


def test_occ_symbol_is_frozen():
    contract = parse_occ("AAPL240119C00190000")
    with pytest.raises(AttributeError):
        contract.strike = Decimal("1")  # type: ignore[misc]
