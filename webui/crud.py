"""The list / create / edit / delete pages the admin areas share; each area is its own blueprint.

Views parse the form, call callrec.services and show what it says: no rules here. Deleting asks first
(a confirmation page, so it works without JavaScript); an object still in use is not deleted and the
page says why.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import or_, select
from wtforms import SelectChoice

from callrec import services
from callrec.errors import Conflict, NotFound, ValidationFailed
from callrec.models import db
from callrec.validation import MAX_ID, text_error

from .forms import ConfirmForm, ServiceForm

PER_PAGE = 20


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_query(model, columns, text: str, order_by):
    query = select(model).order_by(*order_by)
    if text:
        pattern = like_pattern(text)
        query = query.where(or_(*(column.ilike(pattern, escape="\\") for column in columns)))
    return query


def page_number() -> int:
    """The page asked for; junk is page 1 and a page past any possible offset is clamped (paginate shows the last)."""
    raw = request.args.get("page", "1")
    if not re.fullmatch(r"[0-9]{1,12}", raw):
        return 1
    return min(max(1, int(raw)), MAX_ID // PER_PAGE)


def paginate(query):
    """The requested page of `query`; past the end, the last page (a stale link still shows something)."""
    page = db.paginate(query, page=page_number(), per_page=PER_PAGE, error_out=False)
    if page.pages and page.page > page.pages:
        page = db.paginate(query, page=page.pages, per_page=PER_PAGE, error_out=False)
    return page


@dataclass
class Area:
    """One admin area: a model, its form and how to list it."""

    name: str  # blueprint name, URL prefix and template folder
    model: type
    form_class: type[ServiceForm]
    noun: str  # "customer class"
    plural: str  # "Customer classes"
    search_columns: tuple
    order_by: tuple
    label: Callable = field(default=lambda obj: obj.name)  # how an object is named in messages
    prepare_form: Callable | None = None  # fills select choices: prepare_form(form, obj_or_None)
    # For the account form: build the payload (and a follow-up message) from a submitted form.
    build_payload: Callable | None = None

    def blueprint(self) -> Blueprint:
        bp = Blueprint(self.name, __name__, url_prefix=f"/{self.name.replace('_', '-')}")
        bp.add_url_rule("/", "index", self.index)
        bp.add_url_rule("/new", "create", self.create, methods=["GET", "POST"])
        bp.add_url_rule("/<int:object_id>", "edit", self.edit, methods=["GET", "POST"])
        bp.add_url_rule("/<int:object_id>/delete", "delete", self.delete, methods=["GET", "POST"])
        return bp

    # ------------------------------------------------------------------------------------------ views

    def index(self):
        q = request.args.get("q", "").strip()
        if text_error(q):
            abort(422, text_error(q))
        page = paginate(search_query(self.model, self.search_columns, q, self.order_by))
        return render_template(f"{self.name}/list.html", area=self, page=page, q=q)

    def create(self):
        form = self.form_class()
        if self.prepare_form:
            self.prepare_form(form, None)
        if form.validate_on_submit():
            payload, note = self._payload(form, None)
            try:
                obj = services.create(self.model, payload)
            except (ValidationFailed, Conflict) as exc:
                form.show_errors(exc.fields, exc.message)
                return render_template(f"{self.name}/form.html", area=self, form=form, obj=None), 422
            flash(f"Created {self.noun} {self.label(obj)}.{note}", "success")
            return redirect(url_for(".edit", object_id=obj.id))
        return render_template(f"{self.name}/form.html", area=self, form=form, obj=None)

    def edit(self, object_id: int):
        obj = self._get(object_id)
        form = self.form_class(obj=obj)
        if self.prepare_form:
            self.prepare_form(form, obj)
        if form.validate_on_submit():
            payload, note = self._payload(form, obj)
            try:
                services.update(obj, payload)
            except (ValidationFailed, Conflict) as exc:
                form.show_errors(exc.fields, exc.message)
                obj = self._get(object_id)  # the rollback expired it; show the stored values elsewhere
                return render_template(f"{self.name}/form.html", area=self, form=form, obj=obj), 422
            flash(f"Saved {self.noun} {self.label(obj)}.{note}", "success")
            return redirect(url_for(".edit", object_id=obj.id))
        return render_template(f"{self.name}/form.html", area=self, form=form, obj=obj)

    def delete(self, object_id: int):
        obj = self._get(object_id)
        form = ConfirmForm()
        if form.validate_on_submit():
            label = self.label(obj)
            try:
                services.delete(obj)
            except Conflict as exc:
                flash(exc.message, "error")
                return redirect(url_for(".edit", object_id=object_id))
            flash(f"Deleted {self.noun} {label}.", "success")
            return redirect(url_for(".index"))
        return render_template("crud/confirm_delete.html", area=self, form=form, obj=obj)

    # ------------------------------------------------------------------------------------------ helpers

    def _get(self, object_id: int):
        try:
            return services.get(self.model, object_id)
        except NotFound:
            abort(404)

    def _payload(self, form, obj) -> tuple[dict, str]:
        if self.build_payload:
            return self.build_payload(form, obj)
        return form.payload(), ""


def choices(model, label=lambda o: o.name, empty: str | None = None) -> list[SelectChoice]:
    """Select options for every row of `model`, optionally led by an empty choice."""
    rows = db.session.scalars(select(model).order_by(model.name)).all()
    options = [SelectChoice(str(row.id), label(row)) for row in rows]
    return ([SelectChoice("", empty)] if empty is not None else []) + options
