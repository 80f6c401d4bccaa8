"""Settings: the one row of global settings (RecordsDelivery.Enabled, default codes, retention, ...)."""
from flask import Blueprint, flash, redirect, render_template, url_for

from callrec import services
from callrec.errors import Conflict, ValidationFailed
from callrec.models import get_settings

from .forms import SettingsForm

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.route("/", methods=["GET", "POST"])
def edit():
    settings = get_settings()
    form = SettingsForm(obj=settings)
    if form.validate_on_submit():
        try:
            services.update_settings(form.payload())
        except (ValidationFailed, Conflict) as exc:
            form.show_errors(exc.fields, exc.message)
            return render_template("settings/edit.html", form=form), 422
        flash("Saved the settings.", "success")
        return redirect(url_for(".edit"))
    return render_template("settings/edit.html", form=form)
