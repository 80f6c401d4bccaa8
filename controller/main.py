"""Entry point: parse arguments, configure logging, build the controller and run it until stopped."""
from __future__ import annotations

import argparse
import logging
import time

import greenswitch

from callrec.config import load_config

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller", description=__doc__)
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ... (default CALLREC_LOG_LEVEL)")
    args = parser.parse_args(argv)
    config = load_config()
    logging.basicConfig(level=(args.log_level or config["CALLREC_LOG_LEVEL"]).upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host, port = config["CALLREC_ESL_HOST"], config["CALLREC_ESL_PORT"]
    delay = 1.0
    while True:
        logger.info("waiting for FreeSWITCH at %s:%s", host, port)
        esl = greenswitch.InboundESL(host=host, port=port, password=config["CALLREC_ESL_PASSWORD"])
        try:
            esl.connect()
        except Exception as exc:  # noqa: BLE001 - any failure to connect means: retry later
            logger.warning("cannot connect to FreeSWITCH at %s:%s (%s); retrying in %.0f s", host, port, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
            continue
        logger.info("connected to FreeSWITCH at %s:%s", host, port)
        while esl.connected:
            time.sleep(1)
        delay = 1.0
