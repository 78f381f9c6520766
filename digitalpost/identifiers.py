"""CPR and CVR numbers: validation (python-stdnum) and masking."""

import re
from datetime import date
from functools import lru_cache

from stdnum.dk import cpr as stdnum_cpr
from stdnum.dk import cvr as stdnum_cvr
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError

# Ten digits; one dash or space after the sixth is accepted and removed.
_CPR_INPUT = re.compile(r"^([0-9]{6})[- ]?([0-9]{4})$")


class InvalidCPR(ValueError):
    """The text is not a CPR number. The message never contains the input."""

    def __init__(self, reason: str):
        self.reason = reason  # "format" or "date"
        super().__init__(f"invalid CPR number ({reason})")


class InvalidCVR(ValueError):
    def __init__(self, reason: str):
        self.reason = reason  # "format" or "checksum"
        super().__init__(f"invalid CVR number ({reason})")


def normalize_cpr(text: str) -> str:
    """Return the 10 digits of a CPR number, or raise InvalidCPR."""
    match = _CPR_INPUT.match((text or "").strip())
    if not match:
        raise InvalidCPR("format")
    digits = match.group(1) + match.group(2)
    problem = _date_problem(digits[:7], date.today())
    if problem:
        raise InvalidCPR(problem)
    return digits


@lru_cache(maxsize=1 << 16)
def _date_problem(first7: str, today: date) -> str | None:
    """stdnum's check of a CPR, which reads only the birth date and the
    century digit (and refuses a date after today): cached by those seven
    digits and the day, as a list of 100,000 citizens repeats them often."""
    try:
        stdnum_cpr.validate(first7 + "000")
    except InvalidComponent:
        return "date"
    except ValidationError:
        return "format"
    return None


def normalize_cvr(text: str) -> str:
    """Return the 8 digits of a CVR number, or raise InvalidCVR."""
    digits = (text or "").strip()
    if not re.fullmatch(r"[0-9]{8}", digits):  # \d would take any script's digits
        raise InvalidCVR("format")
    try:
        stdnum_cvr.validate(digits)
    except InvalidChecksum:
        raise InvalidCVR("checksum") from None
    except ValidationError:
        raise InvalidCVR("format") from None
    return digits


def mask_cpr(cpr: str) -> str:
    """010190-**** : the birth date part only, as the design shows CPRs."""
    digits = re.sub(r"\D", "", cpr or "")
    return f"{digits[:6]}-****" if len(digits) >= 6 else "******-****"
