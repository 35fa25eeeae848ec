"""One vocabulary for where quoted or forwarded history starts, in the languages mail clients write.

Reply extraction (``mailflow.parse.reply``), forwarded reports (``mailflow.parse.forward``) and the
policy gate (``mailflow.policy.exposure``: "found in forwarded history") all read these.

* ``DASHED_LINE``: a separator line such as ``-----Original Message-----`` or
  ``---------- Forwarded message ---------`` (dashes around a phrase);
* ``PLAIN_LINE``: a separator line without dashes, such as ``Begin forwarded message:``;
* ``FORWARD_START``: either, found anywhere in a text (multi-line search);
* the label vocabularies of a quoted header block (``From:``, ``Sent:``, ``To:``, ``Subject:`` and
  their translations).
"""

from __future__ import annotations

import re

SEPARATOR_PHRASES = (
    r"original(?:e|ly)? message|forwarded message|forwarded e-?mail|reply message|message d'origine"
    r"|message original|message transf[ée]r[ée]|ursprüngliche nachricht|originalnachricht|antwort nachricht"
    r"|weitergeleitete nachricht|mensaje original|mensaje reenviado|messaggio originale|messaggio inoltrato"
    r"|oorspronkelijk bericht|origineel bericht|doorgestuurd bericht|oprindelig meddelelse|oprindelig besked"
    r"|videresendt meddelelse|videresendt besked|opprinnelig melding|videresendt melding"
    r"|ursprungligt meddelande|vidarebefordrat meddelande|alkuperäinen viesti|välitetty viesti"
    r"|wiadomość oryginalna|oryginalna wiadomość|przekazana wiadomość|исходное сообщение"
    r"|пересылаемое сообщение|пересланное сообщение|původní zpráva|přeposlaná zpráva|pôvodná správa"
    r"|eredeti üzenet|továbbított üzenet|mensagem original|mensagem encaminhada|orijinal mesaj"
    r"|iletilen mesaj|αρχικό μήνυμα|原始邮件|原始郵件|転送されたメッセージ|元のメッセージ"
    r"|원본 메시지|전달된 메시지"
)
DASHED_LINE = re.compile(r"^[\s>*_]*-{2,}\s*(?:" + SEPARATOR_PHRASES + r")\s*-{2,}[\s*_]*$", re.IGNORECASE)
PLAIN_LINE = re.compile(
    r"^[\s>*]*(?:begin forwarded message|début du message (?:réexpédié|transféré)"
    r"|anfang der weitergeleiteten nachricht|inicio del mensaje reenviado|comienzo del mensaje reenviado"
    r"|inizio messaggio inoltrato|begin doorgestuurd bericht|início da mensagem reencaminhada"
    r"|mensagem encaminhada|vidarebefordrat mejl|videresendt meddelelse|välitetty viesti"
    r"|forwarded message|original message)\s*:?[\s*]*$",
    re.IGNORECASE,
)

FROM_LABELS = (
    r"from|von|de|van|da|från|fra|od|от|expéditeur|remitente|lähettäjä|feladó|kimden|afzender"
    r"|发件人|寄件者|差出人|보낸 ?사람"
)
DATE_LABELS = (
    r"sent|date|gesendet|datum|envoyé(?: le)?|enviado|enviada em|enviada|fecha|data|inviato|verzonden"
    r"|skickat|sendt|dato|wysłano|wysłane|отправлено|дата|发送时间|日期|送信日時|보낸 ?날짜|날짜"
    r"|lähetetty|päivämäärä|elküldve|dátum|gönderildi|tarih|odesláno|message du"
)
TO_LABELS = (
    r"to|an|à|a|aan|para|till|til|do|кому|收件人|宛先|받는 ?사람|vastaanottaja|címzett|kime|komu"
    r"|destinataire|destinatario"
)
SUBJECT_LABELS = (
    r"subject|betreff|objet|sujet|onderwerp|oggetto|asunto|assunto|ämne|emne|temat|тема|主题|主旨|件名"
    r"|제목|aihe|tárgy|konu|předmět"
)
OTHER_LABELS = (
    r"cc|bcc|kopie|copie à|copie|kopia|копия|抄送|참조|kopio|másolat|bilgi|reply-to|antwort an"
    r"|répondre à|responder a|risposta|beantwoorden - aan|organization|organisation|importance|priority"
)
FORWARD_START = re.compile(f"(?:{DASHED_LINE.pattern})|(?:{PLAIN_LINE.pattern})", re.IGNORECASE | re.MULTILINE)
"""A separator line anywhere in a text."""
