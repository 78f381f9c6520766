"""The one interface that jobs and verbs send through, whichever way an
organization reaches Digital Post.

Two implementations: the provider API with an API key
(digitalpost.client.DigitalPostClient) and Serviceplatformen's SF1601 with an
OCES3 certificate (digitalpost.sf1601.SF1601Client). Both raise the same
typed errors (digitalpost.errors), so the worker's retries, leases and
exactly-once rules do not depend on the transport.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from digitalpost.memo import Message


class TransportKind(StrEnum):
    PROVIDER = "provider"  # a broker's REST API and an API key
    SF1601 = "sf1601"  # KOMBIT's Serviceplatformen and an OCES3 certificate


class Registration(StrEnum):
    """What the registration lookup says of one citizen."""

    DIGITAL = "digital"  # receives Digital Post
    EXEMPT = "exempt"  # fritaget: gets paper, or nothing
    NOT_FOUND = "not_found"  # no such CPR number


@dataclass(frozen=True)
class PaperLetter:
    """The printed form of a letter, for a citizen who is exempt: the PDF
    that fjernprint prints, and the authority's print job type."""

    pdf: bytes
    title: str
    print_type: int  # fjernprint's ForsendelseTypeIdentifikator, from the authority's print contract


class Transport(Protocol):
    kind: TransportKind
    # Whether delivery status is read by asking (the provider API) or arrives
    # as receipts from the message broker (SF1601).
    polls_status: bool
    # Whether a letter can go on paper to the exempt.
    sends_paper: bool

    def send(self, message: Message, paper: PaperLetter | None = None):
        """Send one letter (digitalpost.client.SendResult). With paper, the
        citizen gets Digital Post if registered and the PDF in print if exempt."""

    def registration(self, cpr: str) -> Registration: ...

    def status(self, message_uuid: str): ...

    def close(self) -> None: ...

    def __enter__(self): ...

    def __exit__(self, *exc): ...
