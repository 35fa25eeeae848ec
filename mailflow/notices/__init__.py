"""The committee's notices: the catalogue of templates (:mod:`.catalogue`) and the tone check (:mod:`.tone`).

Each notice is one folder under ``templates/`` (``<audience>/<notice>/subject.txt.j2``, ``body.txt.j2``,
optionally ``body.html.j2``); the catalogue names the context each one needs and a sample to render it with.
"""

from mailflow.notices.catalogue import (
    COMMON,
    Notice,
    NoticeError,
    common_context,
    notice,
    notices,
    render_notice,
)
from mailflow.notices.tone import Advice, tone_advice

__all__ = [
    "COMMON",
    "Advice",
    "Notice",
    "NoticeError",
    "common_context",
    "notice",
    "notices",
    "render_notice",
    "tone_advice",
]
