"""The Digital Post client as the jobs use it, configured from the app."""

import httpx
from flask import current_app

from digitalpost import DigitalPostClient


def gateway_client(api_key: str) -> DigitalPostClient:
    config = current_app.config
    # A short connect timeout: no connection means nothing was sent. The read
    # timeout is the longest wait for an answer to a request that went out.
    timeout = httpx.Timeout(config["DIGITAL_POST_TIMEOUT"], connect=min(3.0, config["DIGITAL_POST_TIMEOUT"]))
    return DigitalPostClient(config["DIGITAL_POST_API_URL"], api_key, timeout=timeout)
