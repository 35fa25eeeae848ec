"""Reading a file the way the MIME part tree does, for the readers' tests."""

from __future__ import annotations

from mailflow.mime.formats import NestedReader, read_file
from mailflow.mime.reading import Budget, Limits, Reading
from tests.support.documents import squeeze


def read(
    data: bytes,
    filename: str | None = None,
    content_type: str = "application/octet-stream",
    *,
    charset: str | None = None,
    where: str | None = None,
    limits: Limits | None = None,
    budget: Budget | None = None,
    nested: NestedReader | None = None,
) -> Reading:
    return read_file(
        data,
        filename=filename,
        content_type=content_type,
        charset=charset,
        where=where or filename or "attachment",
        budget=budget or Budget(limits or Limits()),
        depth=1,
        nested=nested,
    )


def all_text(reading: Reading) -> str:
    """Every text of the reading, whitespace squeezed."""
    return squeeze("\n".join(text.text for text in reading.texts))


def text_at(reading: Reading, where: str) -> str:
    """The texts read at ``where``, whitespace squeezed."""
    return squeeze("\n".join(text.text for text in reading.texts if text.where == where))


def unread(reading: Reading) -> set[tuple[str, str]]:
    return {(item.where, item.reason) for item in reading.unread}


def reasons(reading: Reading) -> set[str]:
    return {item.reason for item in reading.unread}
