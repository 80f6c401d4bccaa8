"""Registers the admin pages' blueprints (one per area)."""
from flask import Flask, redirect, url_for
from flask_login import login_required


def register(app: Flask) -> None:
    @app.route("/")
    @login_required
    def index():
        return redirect(url_for("auth.login"))
