"""The dashboard: is the controller connected to FreeSWITCH, recordings today, failed deliveries."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Blueprint, render_template
from sqlalchemy import func, select

from callrec.models import ControllerStatus, Delivery, Recording, db, utcnow

from .views import settings_zone

bp = Blueprint("dashboard", __name__)

# A controller writes its heartbeat row every few seconds; older than this, it is not running.
STALE_AFTER = timedelta(minutes=2)


@bp.route("/")
def index():
    now = utcnow()
    controllers = db.session.scalars(select(ControllerStatus).order_by(ControllerStatus.node)).all()
    midnight = datetime.combine(now.astimezone(settings_zone()).date(), time.min, settings_zone())
    recordings_today = db.session.scalar(select(func.count()).select_from(Recording)
                                         .where(Recording.started_at >= midnight))
    failed = db.session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "failed"))
    pending = db.session.scalar(select(func.count()).select_from(Delivery)
                                .where(Delivery.status.in_(("pending", "sending"))))
    recent_failures = db.session.scalars(select(Delivery).where(Delivery.status == "failed")
                                         .order_by(Delivery.created_at.desc()).limit(5)).all()
    return render_template("dashboard/index.html", controllers=controllers, now=now, stale_after=STALE_AFTER,
                           recordings_today=recordings_today, failed=failed, pending=pending,
                           recent_failures=recent_failures)
