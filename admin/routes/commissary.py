"""The commissary for staff: order queue, pick lists, catalogue, rules and ordering stops."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import raiseload
from wtforms import BooleanField, FileField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from admin.helpers import me, paginate, visible
from admin.nav import Card, NavItem, add_card, add_nav
from kiosk.db import unit_of_work
from kiosk.errors import DomainError, NotFound
from kiosk.i18n import _, _l
from kiosk.models import (
    Category,
    Facility,
    Inmate,
    Order,
    OrderingStop,
    OrderStatus,
    Product,
    ProductRestriction,
    Staff,
    Unit,
)
from kiosk.security.policy import Perm, can, facility_scope, in_scope
from kiosk.services import commissary, ledger
from kiosk.services import media as media_service
from kiosk.services.inmates import normalize_booking
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.forms import BaseForm, strip_filter
from kiosk.web.state import get_state

# A product picture is an image: its limit, raised before CSRF reads the body.
PICTURE_UPLOAD = media_service.KINDS["image/png"].max_bytes + media_service.MB

bp = Blueprint("commissary", __name__, url_prefix="/commissary")
add_nav(NavItem("commissary.index", _l("Commissary"), Perm.COMMISSARY_MANAGE, 40))
add_nav(NavItem("commissary.stops", _l("Stop ordering"), Perm.LOCKDOWN_MANAGE, 42))

CATEGORY_LABELS: dict[Category, Any] = {
    Category.FOOD: _l("Food"),
    Category.SNACKS: _l("Snacks and sweets"),
    Category.DRINKS: _l("Drinks"),
    Category.HYGIENE: _l("Hygiene"),
    Category.STATIONERY: _l("Stamps and paper"),
    Category.TOBACCO: _l("Tobacco"),
    Category.OTHER: _l("Other"),
}
STATUS_LABELS: dict[OrderStatus, Any] = {
    OrderStatus.PLACED: _l("Placed"),
    OrderStatus.PACKED: _l("Packed"),
    OrderStatus.DELIVERED: _l("Delivered"),
    OrderStatus.CANCELLED: _l("Cancelled"),
    OrderStatus.REJECTED: _l("Rejected"),
}
WEEKDAYS: list[tuple[int, Any]] = [
    (0, _l("Monday")),
    (1, _l("Tuesday")),
    (2, _l("Wednesday")),
    (3, _l("Thursday")),
    (4, _l("Friday")),
    (5, _l("Saturday")),
    (6, _l("Sunday")),
]
KIND_LABELS: dict[str, Any] = {
    "deposit": _l("Deposit"),
    "wage": _l("Pay for work or studies"),
    "refund": _l("Refund"),
    "adjustment": _l("Correction"),
}
# A pick list covers at most this many orders (one delivery of one facility).
PICK_LIST_MAX = 500


def _placed_orders(staff: Staff) -> int | None:
    if not can(staff, Perm.COMMISSARY_MANAGE):
        return None
    stmt = select(func.count(Order.id)).where(Order.status == OrderStatus.PLACED)
    scope = facility_scope(staff)
    if scope is not None:
        stmt = stmt.where(Order.facility_id.in_(scope))
    return int(db().scalar(stmt) or 0)


add_card(Card("orders", _l("orders to pack"), "commissary.index", _placed_orders, 40))


# Forms --------------------------------------------------------------------------------------


class ProductForm(BaseForm):
    """A product of the catalogue."""

    name_sv = StringField(
        _l("Name in Swedish"),
        validators=[InputRequired(_l("Type a name.")), Length(max=Product.NAME_MAX)],
        filters=[strip_filter],
    )
    name_en = StringField(
        _l("Name in English"),
        validators=[InputRequired(_l("Type a name.")), Length(max=Product.NAME_MAX)],
        filters=[strip_filter],
    )
    category = SelectField(_l("Category"), validate_choice=True)
    price = StringField(_l("Price in kronor"), filters=[strip_filter])
    stock = StringField(_l("In stock"), filters=[strip_filter])
    max_per_order = StringField(_l("At most per order"), filters=[strip_filter])
    weekly_limit = StringField(
        _l("At most per inmate and week (empty: no limit)"), filters=[strip_filter]
    )
    active = BooleanField(_l("For sale"))
    picture = FileField(_l("Picture (JPEG, PNG, GIF or WebP)"))
    remove_picture = BooleanField(_l("Remove the picture"))


class RestrictionForm(BaseForm):
    """A unit or an inmate that may not buy a product."""

    unit = SelectField(_l("Unit"), coerce=int, validate_choice=True)
    booking_number = StringField(_l("Or one inmate (booking number)"), filters=[strip_filter])
    reason = StringField(
        _l("Reason (staff only)"), validators=[Length(max=ProductRestriction.REASON_MAX)]
    )


class SettingsForm(BaseForm):
    """A facility's weekly limit and order window."""

    weekly_limit = StringField(_l("Weekly spending limit in kronor"), filters=[strip_filter])
    open_weekday = SelectField(_l("Ordering opens on"), coerce=int, validate_choice=True)
    open_time = StringField(_l("at (HH:MM)"), filters=[strip_filter])
    close_weekday = SelectField(_l("Ordering closes on"), coerce=int, validate_choice=True)
    close_time = StringField(_l("at (HH:MM)"), filters=[strip_filter])
    delivery_weekday = SelectField(_l("Delivery day"), coerce=int, validate_choice=True)


class RejectForm(BaseForm):
    """Why an order is rejected (the inmate reads it)."""

    reason = TextAreaField(
        _l("Reason the inmate will see"),
        validators=[
            InputRequired(_l("Write the reason the inmate will see.")),
            Length(max=Order.REASON_MAX),
        ],
    )


class StopForm(BaseForm):
    """Stop ordering in a facility or unit."""

    where = SelectField(_l("Where"), validate_choice=True)
    message = TextAreaField(
        _l("Message to inmates"), validators=[Length(max=OrderingStop.MESSAGE_MAX)]
    )


class PlainForm(BaseForm):
    """A button (CSRF only)."""


# Helpers ------------------------------------------------------------------------------------


def _scoped(stmt: Select[Any], column: Any) -> Select[Any]:
    scope = facility_scope(me())
    return stmt if scope is None else stmt.where(column.in_(scope))


def _facilities() -> list[Facility]:
    return list(db().scalars(_scoped(select(Facility).order_by(Facility.name), Facility.id)))


def _chosen_facility(facilities: list[Facility]) -> Facility | None:
    raw = request.args.get("facility", "")
    for facility in facilities:
        if raw == str(facility.id):
            return facility
    return facilities[0] if len(facilities) == 1 else None


def _int(raw: str | None, field: str, low: int, high: int) -> int:
    text = (raw or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9 or not low <= int(text) <= high:
        raise DomainError(
            _l("Type a whole number from %(a)d to %(b)d.", a=low, b=high), field=field
        )
    return int(text)


def _minute(raw: str | None, field: str) -> int:
    text = (raw or "").strip()
    parts = text.split(":")
    if (
        len(parts) != 2
        or not all(p.isascii() and p.isdigit() and len(p) == 2 for p in parts)
        or int(parts[0]) > 23
        or int(parts[1]) > 59
    ):
        raise DomainError(_l("Type a time like 12:00."), field=field)
    return int(parts[0]) * 60 + int(parts[1])


def _set_error(form: BaseForm, exc: DomainError, default: str) -> None:
    target = getattr(form, exc.field or default, None) or getattr(form, default)
    target.errors = [*target.errors, exc.message]


# Order queue --------------------------------------------------------------------------------


@bp.get("/")
@access.staff(Perm.COMMISSARY_MANAGE)
def index() -> str:
    """Orders of the facilities in scope, by status (placed first)."""
    facilities = _facilities()
    facility = _chosen_facility(facilities)
    status = request.args.get("status", "placed")
    stmt = select(Order).options(raiseload(Order.lines)).order_by(Order.placed_at, Order.id)
    stmt = _scoped(stmt, Order.facility_id)
    if facility is not None:
        stmt = stmt.where(Order.facility_id == facility.id)
    if status in {s.value for s in OrderStatus}:
        stmt = stmt.where(Order.status == OrderStatus(status))
    if status in ("delivered", "cancelled", "rejected", "all"):
        stmt = stmt.order_by(None).order_by(Order.id.desc())
    units = {u.id: u for u in db().scalars(_scoped(select(Unit), Unit.facility_id))}
    return render_template(
        "commissary/index.html",
        page=paginate(db(), stmt),
        facilities=facilities,
        facility=facility,
        status=status,
        status_labels=STATUS_LABELS,
        units=units,
    )


@bp.get("/orders/<id:order_id>")
@access.staff(Perm.COMMISSARY_MANAGE)
def order(order_id: int) -> str:
    """One order with the actions its status allows."""
    found = visible(Order, order_id, Perm.COMMISSARY_MANAGE)
    return _order_page(found)


def _order_page(found: Order, *, reject_form: RejectForm | None = None, error: Any = None) -> str:
    unit = db().get(Unit, found.unit_id)
    return render_template(
        "commissary/order.html",
        order=found,
        unit=unit,
        status_labels=STATUS_LABELS,
        reject_form=reject_form or RejectForm(formdata=None),
        error=error,
    )


def _back(order_id: int) -> ResponseReturnValue:
    return make_response(redirect(url_for("commissary.order", order_id=order_id)), 303)


@bp.post("/orders/<id:order_id>/pack")
@access.staff(Perm.COMMISSARY_MANAGE)
def pack(order_id: int) -> ResponseReturnValue:
    """Mark an order packed: the inmate can no longer cancel it."""
    found = visible(Order, order_id, Perm.COMMISSARY_MANAGE)
    if not PlainForm().validate():
        return make_response(
            _order_page(found, error=_("The form had expired. Please try again.")), 400
        )
    try:
        commissary.pack_order(db(), actor=actor(), staff=me(), order_id=found.id, now=now())
    except DomainError as exc:
        db().expire_all()
        return make_response(_order_page(found, error=exc.message), exc.status)
    flash(_("The order is packed."), "success")
    return _back(found.id)


@bp.post("/orders/<id:order_id>/deliver")
@access.staff(Perm.COMMISSARY_MANAGE)
def deliver(order_id: int) -> ResponseReturnValue:
    """Hand the order over; lines delivered short are not charged."""
    found = visible(Order, order_id, Perm.COMMISSARY_MANAGE)
    if not PlainForm().validate():
        return make_response(
            _order_page(found, error=_("The form had expired. Please try again.")), 400
        )
    delivered: dict[int, int] = {}
    try:
        for line in found.lines:
            raw = request.form.get(f"line-{line.id}")
            delivered[line.id] = (
                line.quantity if raw is None else _int(raw, f"line-{line.id}", 0, line.quantity)
            )
        result = commissary.deliver_order(
            db(), actor=actor(), staff=me(), order_id=found.id, delivered=delivered, now=now()
        )
    except DomainError as exc:
        db().expire_all()
        return make_response(_order_page(found, error=exc.message), exc.status)
    if result.charged is not None and result.charged < result.total:
        flash(
            _(
                "Delivered. %(charged)s was charged; %(refunded)s for missing items "
                "went back to the inmate.",
                charged=ledger.format_money(result.charged),
                refunded=ledger.format_money(result.total - result.charged),
            ),
            "success",
        )
    else:
        flash(_("Delivered and charged."), "success")
    return _back(found.id)


@bp.post("/orders/<id:order_id>/reject")
@access.staff(Perm.COMMISSARY_MANAGE)
def reject(order_id: int) -> ResponseReturnValue:
    """Reject an open order with a reason: money and stock come back."""
    found = visible(Order, order_id, Perm.COMMISSARY_MANAGE)
    form = RejectForm()
    if not form.validate():
        return make_response(_order_page(found, reject_form=form), 422)
    try:
        commissary.reject_order(
            db(),
            actor=actor(),
            staff=me(),
            order_id=found.id,
            reason=form.reason.data or "",
            now=now(),
        )
    except DomainError as exc:
        db().expire_all()
        if exc.field == "reason":
            form.reason.errors = [exc.message]
            return make_response(_order_page(found, reject_form=form), exc.status)
        return make_response(_order_page(found, reject_form=form, error=exc.message), exc.status)
    flash(_("The order is rejected and the money released."), "success")
    return _back(found.id)


@bp.get("/pick-list")
@access.staff(Perm.COMMISSARY_MANAGE)
def pick_list() -> ResponseReturnValue:
    """Placed and packed orders of one facility, by unit, ready to print."""
    facilities = _facilities()
    facility = _chosen_facility(facilities)
    if facility is None:
        return render_template(
            "commissary/pick_list.html", facilities=facilities, facility=None, groups=[], totals=[]
        )
    units = list(
        db().scalars(select(Unit).where(Unit.facility_id == facility.id).order_by(Unit.code))
    )
    unit_raw = request.args.get("unit", "")
    unit = next((u for u in units if str(u.id) == unit_raw), None)
    stmt = (
        select(Order)
        .where(
            Order.facility_id == facility.id,
            Order.status.in_((OrderStatus.PLACED, OrderStatus.PACKED)),
        )
        .order_by(Order.unit_id, Order.id)
        .limit(PICK_LIST_MAX)
    )
    if unit is not None:
        stmt = stmt.where(Order.unit_id == unit.id)
    orders = list(db().scalars(stmt))
    by_unit = {u.id: u for u in units}
    groups: list[tuple[Unit, list[Order]]] = []
    for found in orders:
        if not groups or groups[-1][0].id != found.unit_id:
            groups.append((by_unit[found.unit_id], []))
        groups[-1][1].append(found)
    totals: dict[str, int] = {}
    for found in orders:
        for line in found.lines:
            totals[line.name_sv] = totals.get(line.name_sv, 0) + line.quantity
    return render_template(
        "commissary/pick_list.html",
        facilities=facilities,
        facility=facility,
        units=units,
        unit=unit,
        groups=groups,
        totals=sorted(totals.items()),
        capped=len(orders) >= PICK_LIST_MAX,
    )


@bp.get("/report")
@access.staff(Perm.COMMISSARY_MANAGE)
def report() -> ResponseReturnValue:
    """A facility's week: sales by product, orders open and closed, money credited."""
    facilities = _facilities()
    facility = _chosen_facility(facilities)
    if facility is None and facilities:
        facility = facilities[0]
    if facility is None:
        raise NotFound()
    this_week = commissary.week_start(facility.timezone, now())
    week = this_week
    raw = request.args.get("week", "")
    if raw:
        try:
            week = dt.date.fromisoformat(raw[:10])
        except ValueError:
            week = this_week
        week -= dt.timedelta(days=week.weekday())
    figures = commissary.week_report(db(), facility, week)
    return render_template(
        "commissary/report.html",
        facilities=facilities,
        facility=facility,
        report=figures,
        previous=week - dt.timedelta(days=7),
        next=week + dt.timedelta(days=7) if week < this_week else None,
        kind_labels=KIND_LABELS,
    )


# Catalogue --------------------------------------------------------------------------------


@bp.get("/products")
@access.staff(Perm.COMMISSARY_MANAGE)
def products() -> str:
    """Products of the facilities in scope."""
    facilities = _facilities()
    facility = _chosen_facility(facilities)
    query = request.args.get("q", "").strip()[:60]
    stmt = _scoped(
        select(Product)
        .options(raiseload(Product.restrictions))
        .order_by(Product.facility_id, Product.category, Product.name_sv, Product.id),
        Product.facility_id,
    )
    if facility is not None:
        stmt = stmt.where(Product.facility_id == facility.id)
    if query:
        stmt = stmt.where(
            or_(
                Product.name_sv.icontains(query, autoescape=True),
                Product.name_en.icontains(query, autoescape=True),
            )
        )
    return render_template(
        "commissary/products.html",
        page=paginate(db(), stmt),
        facilities=facilities,
        facility=facility,
        query=query,
        categories=CATEGORY_LABELS,
    )


def _product_form(form: ProductForm) -> ProductForm:
    form.category.choices = [(c.value, label) for c, label in CATEGORY_LABELS.items()]
    return form


def _product_data(form: ProductForm) -> commissary.ProductData:
    try:
        price = ledger.parse_amount(form.price.data, field="price")
    except ledger.LedgerError as exc:
        raise DomainError(exc.message, field="price") from exc
    limit_raw = (form.weekly_limit.data or "").strip()
    return commissary.ProductData(
        name_sv=form.name_sv.data or "",
        name_en=form.name_en.data or "",
        category=Category(form.category.data),
        price=price,
        stock=_int(form.stock.data, "stock", 0, Product.STOCK_MAX),
        max_per_order=_int(form.max_per_order.data, "max_per_order", 1, Product.MAX_PER_ORDER_MAX),
        weekly_limit=_int(limit_raw, "weekly_limit", 1, 999) if limit_raw else None,
        active=bool(form.active.data),
    )


def _store_and_save(
    form: ProductForm, facility: Facility, product: Product | None, data: commissary.ProductData
) -> Product:
    session = db()
    settings = get_state().settings
    picture = None
    upload = request.files.get("picture")
    if upload is not None and upload.filename:
        picture = media_service.store(
            session,
            actor=actor(),
            instance_path=settings.instance_path,
            stream=upload.stream,
            filename=upload.filename,
            purpose="product",
            facility_id=facility.id,
            staff_id=me().id,
            now=now(),
            families=frozenset({"image"}),
        )
    return commissary.save_product(
        session,
        actor=actor(),
        facility=facility,
        data=data,
        product_id=product.id if product else None,
        picture=picture,
        remove_picture=bool(form.remove_picture.data),
        now=now(),
    )


def _save_product(
    form: ProductForm, facility: Facility, product: Product | None
) -> tuple[ResponseReturnValue | None, int]:
    """Validate and save; (None, status) when the form goes back with errors on it."""
    try:
        data = _product_data(form)
        # One unit of work: a refused product leaves no stray picture row behind.
        with unit_of_work(db()):
            saved = _store_and_save(form, facility, product, data)
    except NotFound:
        raise
    except DomainError as exc:
        _set_error(form, exc, "picture" if isinstance(exc, media_service.MediaError) else "name_sv")
        return None, exc.status
    flash(_("The product is saved."), "success")
    return make_response(redirect(url_for("commissary.product", product_id=saved.id)), 303), 303


@bp.route("/products/new", methods=["GET", "POST"])
@access.staff(Perm.COMMISSARY_MANAGE)
@access.upload_limit(PICTURE_UPLOAD)
def new_product() -> ResponseReturnValue:
    """Add a product to a facility's catalogue."""
    facilities = _facilities()
    facility = _chosen_facility(facilities)
    if facility is None:
        raw = request.values.get("facility", "")
        facility = next((f for f in facilities if str(f.id) == raw), None)
    if facility is None:
        return render_template("commissary/choose_facility.html", facilities=facilities)
    form = _product_form(ProductForm())
    status = 200
    if request.method == "GET":
        form.active.data = True
        form.max_per_order.data = "5"
        form.stock.data = "0"
    else:
        if form.validate():
            done, status = _save_product(form, facility, None)
            if done is not None:
                return done
        else:
            status = 422
    html = render_template(
        "commissary/product_form.html", form=form, facility=facility, product=None
    )
    return make_response(html, status)


@bp.route("/products/<id:product_id>", methods=["GET", "POST"])
@access.staff(Perm.COMMISSARY_MANAGE)
@access.upload_limit(PICTURE_UPLOAD)
def product(product_id: int) -> ResponseReturnValue:
    """Change a product; its restrictions."""
    found = visible(Product, product_id, Perm.COMMISSARY_MANAGE)
    facility = db().get(Facility, found.facility_id)
    assert facility is not None  # noqa: S101 - foreign key
    form = _product_form(ProductForm(obj=None))
    status = 200
    if request.method == "GET":
        form.name_sv.data = found.name_sv
        form.name_en.data = found.name_en
        form.category.data = found.category.value
        form.price.data = ledger.kronor_text(found.price)
        form.stock.data = str(found.stock)
        form.max_per_order.data = str(found.max_per_order)
        form.weekly_limit.data = str(found.weekly_limit) if found.weekly_limit else ""
        form.active.data = found.active
    else:
        if form.validate():
            done, status = _save_product(form, facility, found)
            if done is not None:
                return done
        else:
            status = 422
    return make_response(_product_page(found, facility, form), status)


def _restriction_form(facility: Facility) -> RestrictionForm:
    form = RestrictionForm()
    units = db().scalars(select(Unit).where(Unit.facility_id == facility.id).order_by(Unit.code))
    form.unit.choices = [
        (0, _("No unit: one inmate")),
        *[(u.id, f"{u.code} {u.name}") for u in units],
    ]
    return form


def _product_page(
    found: Product,
    facility: Facility,
    form: ProductForm,
    restriction_form: RestrictionForm | None = None,
) -> str:
    unit_ids = [r.unit_id for r in found.restrictions if r.unit_id]
    inmate_ids = [r.inmate_id for r in found.restrictions if r.inmate_id]
    units = {u.id: u for u in db().scalars(select(Unit).where(Unit.id.in_(unit_ids)))}
    inmates = {i.id: i for i in db().scalars(select(Inmate).where(Inmate.id.in_(inmate_ids)))}
    return render_template(
        "commissary/product_form.html",
        form=form,
        facility=facility,
        product=found,
        restriction_form=restriction_form or _restriction_form(facility),
        units=units,
        inmates=inmates,
    )


@bp.post("/products/<id:product_id>/restrictions")
@access.staff(Perm.COMMISSARY_MANAGE)
def add_restriction(product_id: int) -> ResponseReturnValue:
    """Keep a unit or one inmate from buying this product."""
    found = visible(Product, product_id, Perm.COMMISSARY_MANAGE)
    facility = db().get(Facility, found.facility_id)
    assert facility is not None  # noqa: S101 - foreign key
    form = _restriction_form(facility)
    product_form = _product_form(ProductForm(formdata=None))
    if form.validate():
        unit = db().get(Unit, form.unit.data) if form.unit.data else None
        inmate = None
        booking = form.booking_number.data or ""
        if booking:
            inmate = (
                db()
                .scalars(
                    select(Inmate).where(
                        Inmate.booking_number == normalize_booking(booking),
                        Inmate.facility_id == facility.id,
                    )
                )
                .first()
            )
            if inmate is None:
                form.booking_number.errors = [
                    _("No inmate of this facility has that booking number.")
                ]
        if not form.booking_number.errors:
            try:
                commissary.add_restriction(
                    db(),
                    actor=actor(),
                    product=found,
                    unit=unit,
                    inmate=inmate,
                    reason=form.reason.data or "",
                    now=now(),
                )
            except DomainError as exc:
                form.unit.errors = [exc.message]
            else:
                flash(_("The restriction is saved."), "success")
                return make_response(
                    redirect(url_for("commissary.product", product_id=found.id)), 303
                )
    db().expire_all()
    found = visible(Product, product_id, Perm.COMMISSARY_MANAGE)
    _fill(product_form, found)
    return make_response(_product_page(found, facility, product_form, form), 422)


def _fill(form: ProductForm, found: Product) -> None:
    form.name_sv.data = found.name_sv
    form.name_en.data = found.name_en
    form.category.data = found.category.value
    form.price.data = ledger.kronor_text(found.price)
    form.stock.data = str(found.stock)
    form.max_per_order.data = str(found.max_per_order)
    form.weekly_limit.data = str(found.weekly_limit) if found.weekly_limit else ""
    form.active.data = found.active


@bp.post("/products/<id:product_id>/restrictions/<id:restriction_id>/remove")
@access.staff(Perm.COMMISSARY_MANAGE)
def remove_restriction(product_id: int, restriction_id: int) -> ResponseReturnValue:
    """Lift a restriction."""
    found = visible(Product, product_id, Perm.COMMISSARY_MANAGE)
    if PlainForm().validate():
        commissary.remove_restriction(
            db(), actor=actor(), product=found, restriction_id=restriction_id, now=now()
        )
        flash(_("The restriction is lifted."), "success")
    return make_response(redirect(url_for("commissary.product", product_id=found.id)), 303)


@bp.get("/products/<id:product_id>/picture")
@access.staff(Perm.COMMISSARY_MANAGE)
def picture(product_id: int) -> ResponseReturnValue:
    """A product's picture."""
    found = visible(Product, product_id, Perm.COMMISSARY_MANAGE)
    if found.picture is None:
        raise NotFound()
    settings = get_state().settings
    return media_service.send_media(
        found.picture,
        instance_path=settings.instance_path,
        accel_prefix=settings.media_accel_prefix,
    )


# Rules ---------------------------------------------------------------------------------------


@bp.route("/settings/<id:facility_id>", methods=["GET", "POST"])
@access.staff(Perm.COMMISSARY_MANAGE)
def settings(facility_id: int) -> ResponseReturnValue:
    """A facility's weekly limit, order window and delivery day."""
    facility = visible(Facility, facility_id, Perm.COMMISSARY_MANAGE)
    form = SettingsForm()
    for f in (form.open_weekday, form.close_weekday, form.delivery_weekday):
        f.choices = [(n, str(label)) for n, label in WEEKDAYS]
    rules = commissary.settings_of(db(), facility.id)
    status = 200
    if request.method == "GET":
        form.weekly_limit.data = ledger.kronor_text(rules.weekly_limit)
        form.open_weekday.data = rules.open_weekday
        form.open_time.data = f"{rules.open_minute // 60:02d}:{rules.open_minute % 60:02d}"
        form.close_weekday.data = rules.close_weekday
        form.close_time.data = f"{rules.close_minute // 60:02d}:{rules.close_minute % 60:02d}"
        form.delivery_weekday.data = rules.delivery_weekday
    elif form.validate():
        try:
            try:
                limit = ledger.parse_amount(form.weekly_limit.data, field="weekly_limit")
            except ledger.LedgerError as exc:
                raise DomainError(exc.message, field="weekly_limit") from exc
            commissary.save_settings(
                db(),
                actor=actor(),
                facility=facility,
                weekly_limit=limit,
                open_weekday=form.open_weekday.data,
                open_minute=_minute(form.open_time.data, "open_time"),
                close_weekday=form.close_weekday.data,
                close_minute=_minute(form.close_time.data, "close_time"),
                delivery_weekday=form.delivery_weekday.data,
                now=now(),
            )
        except DomainError as exc:
            _set_error(form, exc, "weekly_limit")
            status = exc.status
        else:
            flash(_("The rules are saved."), "success")
            return make_response(
                redirect(url_for("commissary.settings", facility_id=facility.id)), 303
            )
    else:
        status = 422
    win = commissary.window(rules, facility.timezone, now())
    html = render_template(
        "commissary/settings.html", form=form, facility=facility, window=win, rules=rules
    )
    return make_response(html, status)


# Stops (lockdown of ordering) ---------------------------------------------------------------


def _stop_choices() -> list[tuple[str, str]]:
    choices: list[tuple[str, str]] = []
    for facility in _facilities():
        choices.append((f"f{facility.id}", _("All of %(name)s", name=facility.name)))
        for unit in facility.units:
            choices.append((f"u{unit.id}", f"{facility.name}: {unit.name}"))
    return choices


@bp.route("/stops", methods=["GET", "POST"])
@access.staff(Perm.LOCKDOWN_MANAGE)
def stops() -> ResponseReturnValue:
    """Ordering stops now in force, and a form to stop ordering at once."""
    form = StopForm()
    form.where.choices = _stop_choices()
    status = 200
    if request.method == "POST":
        if form.validate():
            where = form.where.data or ""
            unit = db().get(Unit, int(where[1:])) if where.startswith("u") else None
            facility = unit.facility if unit is not None else db().get(Facility, int(where[1:]))
            if facility is None or not in_scope(me(), facility.id):
                raise NotFound()
            try:
                commissary.start_stop(
                    db(),
                    actor=actor(),
                    staff=me(),
                    facility=facility,
                    unit=unit,
                    message=form.message.data or "",
                    now=now(),
                )
            except DomainError as exc:
                _set_error(form, exc, "message")
                status = exc.status
            else:
                flash(_("Ordering is stopped."), "success")
                return make_response(redirect(url_for("commissary.stops")), 303)
        else:
            status = 422
    current = list(
        db().scalars(
            _scoped(
                select(OrderingStop)
                .where(OrderingStop.ended_at.is_(None))
                .order_by(OrderingStop.id),
                OrderingStop.facility_id,
            )
        )
    )
    names = dict(_stop_choices())
    html = render_template("commissary/stops.html", form=form, current=current, names=names)
    return make_response(html, status)


@bp.post("/stops/<id:stop_id>/end")
@access.staff(Perm.LOCKDOWN_MANAGE)
def end_stop(stop_id: int) -> ResponseReturnValue:
    """Let ordering start again."""
    stop = visible(OrderingStop, stop_id, Perm.LOCKDOWN_MANAGE)
    if PlainForm().validate():
        commissary.end_stop(db(), actor=actor(), staff=me(), stop_id=stop.id, now=now())
        flash(_("Ordering is open again."), "success")
    return make_response(redirect(url_for("commissary.stops")), 303)
