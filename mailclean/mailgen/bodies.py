"""Body text as clients and platforms write it: wrapped plain text, Outlook's, Gmail's and
Zimbra's HTML, newsletter pages and calendar invitations.
"""

from __future__ import annotations

import html
import textwrap
from datetime import datetime, timedelta

from mailclean.mailgen.parts import _crlf
from mailclean.mailgen.truth import OWNER_ADDRESS, OWNER_NAME
from mailclean.mailgen.vocab import _Person

_HTML_OUTLOOK_HEAD = (
    '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:'
    'office" xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft'
    '.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">\n<head>\n<meta http-equi'
    'v="Content-Type" content="text/html; charset=utf-8">\n<meta name="Generator" content="Micr'
    'osoft Word 15 (filtered medium)">\n<style><!--\n/* Font Definitions */\n@font-face\n\t{font'
    '-family:"Cambria Math";\n\tpanose-1:2 4 5 3 5 4 6 3 2 4;}\n@font-face\n\t{font-family:Calib'
    'ri;\n\tpanose-1:2 15 5 2 2 2 4 3 2 4;}\n/* Style Definitions */\np.MsoNormal, li.MsoNormal, '
    'div.MsoNormal\n\t{margin:0cm;\n\tfont-size:11.0pt;\n\tfont-family:"Calibri",sans-serif;\n\tms'
    'o-fareast-language:EN-US;}\na:link, span.MsoHyperlink\n\t{mso-style-priority:99;\n\tcolor:#0'
    '563C1;\n\ttext-decoration:underline;}\nspan.EmailStyle17\n\t{mso-style-type:personal-compose'
    ';\n\tfont-family:"Calibri",sans-serif;\n\tcolor:windowtext;}\n.MsoChpDefault\n\t{mso-style-t'
    'ype:export-only;\n\tfont-family:"Calibri",sans-serif;\n\tmso-fareast-language:EN-US;}\n@page '
    'WordSection1\n\t{size:612.0pt 792.0pt;\n\tmargin:70.85pt 70.85pt 70.85pt 70.85pt;}\ndiv.WordS'
    'ection1\n\t{page:WordSection1;}\n--></style><!--[if gte mso 9]><xml>\n<o:shapedefaults v:ext'
    '="edit" spidmax="1026" />\n</xml><![endif]--><!--[if gte mso 9]><xml>\n<o:shapelayout v:ext='
    '"edit">\n<o:idmap v:ext="edit" data="1" />\n</o:shapelayout></xml><![endif]-->\n</head>\n<bo'
    'dy lang="FR" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">\n<div class="Word'
    'Section1">\n'
)


def _wrap(text: str, width: int = 76, *, flowed: bool = False) -> str:
    """Wrap each paragraph of ``text`` (LF separated); flowed lines keep a trailing space."""
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width or line.startswith(">"):
            out.append(line)
            continue
        pieces = textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False)
        if flowed:
            pieces = [p + " " for p in pieces[:-1]] + pieces[-1:]
        out.extend(pieces)
    return "\n".join(out)


def _html_from_text(text: str, style: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    if style == "outlook":
        body = "".join(
            f'<p class="MsoNormal">{html.escape(p).replace(chr(10), "<br>")}<o:p></o:p></p>\n'
            '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
            for p in paragraphs
        )
        return _HTML_OUTLOOK_HEAD + body + "</div>\n</body>\n</html>\n"
    if style == "gmail":
        body = "".join(
            f"<div>{html.escape(p).replace(chr(10), '<br>')}</div><div><br></div>"
            for p in paragraphs
        )
        return f'<div dir="ltr">{body}</div>\n'
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "</head><body style=\"font-family: arial, helvetica, sans-serif; font-size: 12pt; "
        f'color: #000000"><div>{body}</div></body></html>\n'
    )


def _newsletter_html(title: str, articles: list[tuple[str, str]], domain: str, token: str,
                     colour: str) -> str:
    blocks = []
    for i, (heading, text) in enumerate(articles):
        link = f"https://{domain}/c/{token}{i:02d}?utm_source=newsletter&amp;utm_medium=email"
        blocks.append(
            '<tr><td style="padding:24px 32px 8px 32px;font-family:Arial,Helvetica,sans-serif;">'
            f'<a href="{link}" style="text-decoration:none;"><img src="https://img.{domain}/n/'
            f'{token}/{i}.jpg" width="536" height="240" alt="" style="display:block;border:0;'
            'width:100%;max-width:536px;height:auto;"></a></td></tr>\n'
            '<tr><td style="padding:8px 32px;font-family:Arial,Helvetica,sans-serif;font-size:'
            f'20px;line-height:26px;color:{colour};font-weight:bold;">{html.escape(heading)}</td>'
            '</tr>\n<tr><td style="padding:0 32px 16px 32px;font-family:Arial,Helvetica,sans-'
            f'serif;font-size:15px;line-height:22px;color:#333333;">{html.escape(text)}</td></tr>\n'
            '<tr><td style="padding:0 32px 24px 32px;"><table role="presentation" cellpadding="0"'
            f' cellspacing="0"><tr><td style="background:{colour};border-radius:4px;padding:10px'
            f' 18px;"><a href="{link}" style="color:#ffffff;font-family:Arial,Helvetica,sans-serif'
            ';font-size:14px;text-decoration:none;">Lire la suite</a></td></tr></table></td></tr>\n'
        )
    return (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/'
        'xhtml1/DTD/xhtml1-transitional.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml"><head>'
        '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">\n<meta name="viewpo'
        f'rt" content="width=device-width, initial-scale=1.0">\n<title>{html.escape(title)}</title>'
        '\n<style type="text/css">body{margin:0;padding:0;}table,td{border-collapse:collapse;}'
        'img{border:0;outline:none;text-decoration:none;}@media only screen and (max-width:600px)'
        '{.container{width:100%!important;}}</style>\n</head>\n<body style="margin:0;padding:0;'
        'background-color:#f2f2f2;">\n<table role="presentation" width="100%" cellpadding="0" '
        'cellspacing="0" style="background-color:#f2f2f2;"><tr><td align="center">\n<table class='
        '"container" role="presentation" width="600" cellpadding="0" cellspacing="0" style="back'
        f'ground-color:#ffffff;">\n<tr><td style="padding:20px 32px;background:{colour};color:#ff'
        'ffff;font-family:Arial,Helvetica,sans-serif;font-size:24px;font-weight:bold;">'
        f'{html.escape(title)}</td></tr>\n' + "".join(blocks)
        + '<tr><td style="padding:24px 32px;font-family:Arial,Helvetica,sans-serif;font-size:12px;'
        f'color:#888888;">Vous recevez ce message car vous êtes abonné(e). <a href="https://{domain}'
        f'/u/{token}" style="color:#888888;">Se désabonner</a></td></tr>\n</table>\n</td></tr>'
        f'</table>\n<img src="https://t.{domain}/o/{token}.gif" width="1" height="1" alt="">\n'
        "</body>\n</html>\n"
    )


def _ics(uid: str, summary: str, start: datetime, organizer: _Person, method: str) -> str:
    stamp = f"{start:%Y%m%dT%H%M%SZ}"
    end = f"{start + timedelta(hours=2):%Y%m%dT%H%M%SZ}"
    return _crlf(
        "BEGIN:VCALENDAR\nPRODID:Zimbra-Calendar-Provider\nVERSION:2.0\n"
        f"METHOD:{method}\nBEGIN:VEVENT\nUID:{uid}\nSUMMARY:{summary}\n"
        f"ORGANIZER;CN={organizer.name}:mailto:{organizer.address.lower()}\n"
        f"ATTENDEE;CN={OWNER_NAME};PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{OWNER_ADDRESS}\n"
        f"DTSTART:{stamp}\nDTEND:{end}\nDTSTAMP:{stamp}\nLOCATION:Salle du conseil\n"
        "STATUS:CONFIRMED\nCLASS:PUBLIC\nTRANSP:OPAQUE\nSEQUENCE:0\n"
        "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER;RELATED=START:-PT15M\nDESCRIPTION:Rappel\n"
        "END:VALARM\nEND:VEVENT\nEND:VCALENDAR\n"
    )
