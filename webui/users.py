"""Admin users: the list, create, role and password reset (admins only), and one's own password (everyone)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_user
from sqlalchemy import select

from callrec import services
from callrec.errors import Conflict, ValidationFailed
from callrec.models import AdminUser, db
from callrec.validation import id_error

from .forms import EditUserForm, NewUserForm, PasswordForm

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.route("/", methods=["GET", "POST"])
def index():
    form = NewUserForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.create_user(form.username.data or "", form.password.data or "", form.role.data or "")
        except (ValidationFailed, Conflict) as exc:
            form.show_errors(exc.fields, exc.message)
            status = 422
        else:
            flash(f"Created {user.role} {user.username}.", "success")
            return redirect(url_for(".index"))
    users = db.session.scalars(select(AdminUser).order_by(AdminUser.username)).all()
    return render_template("users/list.html", users=users, form=form), status


@bp.route("/<int:user_id>", methods=["GET", "POST"])
def edit(user_id: int):
    user = db.session.get(AdminUser, user_id) if id_error(user_id) is None else None
    if user is None:
        abort(404)
    form = EditUserForm(obj=user)
    if form.validate_on_submit():
        try:
            services.update_user(user, role=form.role.data, password=form.password.data or None)
        except (ValidationFailed, Conflict) as exc:
            form.show_errors(exc.fields, exc.message)
            return render_template("users/edit.html", user=db.session.get(AdminUser, user_id), form=form), 422
        if user.id == current_user.id:
            login_user(user)  # the change ended every session of this user, this one included: renew it
        flash(f"Saved {user.username}.", "success")
        return redirect(url_for(".edit", user_id=user_id))
    return render_template("users/edit.html", user=user, form=form)


@bp.route("/password", methods=["GET", "POST"])
def password():
    """Change one's own password (the current one is required); one's other sessions end, this one goes on."""
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            services.change_own_password(user, form.current_password.data or "", form.new_password.data or "")
        except ValidationFailed as exc:
            form.show_errors(exc.fields, exc.message)
            return render_template("users/password.html", form=form), 422
        login_user(user)  # this session gets the new session token; every other one is over
        flash("Your password has been changed; your other sessions have ended.", "success")
        return redirect(url_for("dashboard.index"))
    return render_template("users/password.html", form=form)
