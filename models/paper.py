"""The printed letter: the same Letter that goes to Digital Post (models/
letters.py), laid out as an A4 PDF for fjernprint, with the survey's link as
a short URL to type and as a QR code to scan.

fpdf2 lays out the page and segno draws the QR code. The built-in PDF fonts
carry Latin-1, which holds Danish; other characters are replaced by their
nearest Latin-1 form so that a letter always prints.
"""

import io
import unicodedata
from datetime import datetime

import segno
from flask_babel import force_locale
from flask_babel import gettext as _
from fpdf import FPDF

from digitalpost.transport import PaperLetter
from models.sharing.letters import Letter, public_url

PAPER_PATH = "/k/"
_REPLACEMENTS = str.maketrans({"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "•": "*"})


def short_link(code: str) -> str:
    """The printed letter's link: short enough to type from paper."""
    return public_url(PAPER_PATH + code)


def printable(text: str) -> str:
    text = text.translate(_REPLACEMENTS)
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        # é from e + accent, and so on; what has no Latin-1 form becomes "?".
        base = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
        out.append(base or "?")
    return "".join(out)


def render_pdf(letter: Letter, link: str, created_at: datetime) -> bytes:
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_title(printable(letter.subject))
    pdf.set_author(printable(letter.sender_name))
    pdf.set_creator("Postbud")
    pdf.set_lang(letter.language)
    pdf.set_creation_date(created_at)  # the same letter makes the same bytes
    pdf.set_margins(25, 25, 25)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 6, printable(letter.sender_name), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(20)
    pdf.set_font("Helvetica", "B", 15)
    pdf.multi_cell(0, 8, printable(letter.subject), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 5.5, printable(letter.body), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    with force_locale(letter.language):
        invitation = _("Answer the survey at this address, or scan the code with your phone's camera:")
    pdf.multi_cell(0, 5.5, printable(invitation), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Courier", "B", 13)
    pdf.cell(0, 7, link, new_x="LMARGIN", new_y="NEXT")
    qr = segno.make(link, error="m")
    image = io.BytesIO()
    qr.save(image, kind="png", scale=8, border=2)
    image.seek(0)
    pdf.ln(2)
    pdf.image(image, w=35, h=35, alt_text=link)
    return bytes(pdf.output())


def paper_letter(letter: Letter, code: str, print_type: int, created_at: datetime) -> PaperLetter:
    pdf = render_pdf(letter, short_link(code), created_at)
    return PaperLetter(pdf=pdf, title=letter.subject, print_type=print_type)
