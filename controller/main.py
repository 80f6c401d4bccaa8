"""Entry point: parse arguments, configure logging, build the controller and run it until stopped."""
from __future__ import annotations

import argparse
import logging
import signal

import gevent

from callrec.config import load_config

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller", description=__doc__)
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ... (default CALLREC_LOG_LEVEL)")
    parser.add_argument("--no-delivery", action="store_true", help="do not run the email delivery worker")
    args = parser.parse_args(argv)
    config = load_config()
    logging.basicConfig(level=(args.log_level or config["CALLREC_LOG_LEVEL"]).upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Flask-Migrate's import makes Alembic announce its plugins at INFO: noise in an operator's log.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from .builder import build_controller

    controller = build_controller(config, run_delivery=not args.no_delivery)

    def shutdown():
        logger.info("stopping")
        gevent.spawn(controller.stop)

    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, shutdown)
    controller.run_forever()
    return 0
