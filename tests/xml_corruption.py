"""Byte fragments that break XML in the ways real responses break, for the reader fuzz tests."""

FRAGMENTS = [
    b"<",
    b">",
    b"&",
    b"&bogus;",
    b"]]>",
    b"<![CDATA[",
    b"\x00",
    b"\xff\xfe",
    b"\xc3",
    b"<!DOCTYPE x>",
]
