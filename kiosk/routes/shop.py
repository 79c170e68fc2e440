"""The commissary for inmates: browse, a cart kept on the server, orders, receipts."""

from __future__ import annotations

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
from flask_babel import get_locale
from sqlalchemy import select
from sqlalchemy.orm import raiseload
from wtforms import HiddenField, StringField

from kiosk.errors import DomainError, NotFound
from kiosk.i18n import _, _l
from kiosk.models import Category, Inmate, MediaFile, Order, OrderStatus
from kiosk.routes.tiles import Tile, register_tile
from kiosk.services import commissary
from kiosk.services import media as media_service
from kiosk.web import access
from kiosk.web.context import actor, db, now, user
from kiosk.web.forms import BaseForm, safe_next
from kiosk.web.state import get_state

bp = Blueprint("shop", __name__, url_prefix="/shop")

register_tile(
    Tile(
        endpoint="shop.index",
        title=_l("Commissary"),
        description=_l("Order food, hygiene, stamps and more."),
        icon="cart",
        order=200,
    )
)

PER_PAGE = 20

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


class AddForm(BaseForm):
    """A quantity of one product."""

    product_id = HiddenField()
    quantity = StringField(_l("How many"))
    next = HiddenField()


class QuantityForm(BaseForm):
    """A new quantity for a cart line."""

    quantity = StringField(_l("How many"))


class PlaceForm(BaseForm):
    """Place the order in the cart; the key makes a second submit harmless."""

    key = HiddenField()


class CancelForm(BaseForm):
    """Cancel an order (CSRF only)."""


def _inmate() -> Inmate:
    who = user()
    if not isinstance(who, Inmate):
        raise NotFound()
    return who


def _lang() -> str:
    locale = get_locale()
    return locale.language if locale else "sv"


def _page() -> int:
    raw = request.args.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 5:
        return 1
    return max(int(raw), 1)


def _category() -> Category | None:
    raw = request.args.get("category", "")
    try:
        return Category(raw)
    except ValueError:
        return None


def _product_id(raw: Any) -> int:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise NotFound()
    return int(text)


def _catalogue(
    status: int = 200, *, error: Any = None, error_product: int | None = None, typed: str = ""
) -> ResponseReturnValue:
    inmate = _inmate()
    session = db()
    category = _category()
    query = request.args.get("q", "").strip()[:60]
    number = _page()
    rows = commissary.visible_products(
        session,
        inmate,
        category=category,
        query=query,
        lang=_lang(),
        limit=PER_PAGE + 1,
        offset=(number - 1) * PER_PAGE,
    )
    cart = commissary.cart_items(session, inmate.id)
    html = render_template(
        "shop/index.html",
        products=rows[:PER_PAGE],
        page=number,
        has_next=len(rows) > PER_PAGE,
        category=category,
        query=query,
        categories=CATEGORY_LABELS,
        summary=commissary.summary(session, inmate, now()),
        cart=cart,
        cart_total=sum(i.quantity * i.product.price for i in cart),
        in_cart={i.product_id: i.quantity for i in cart},
        form=AddForm(formdata=None),
        error=error,
        error_product=error_product,
        typed=typed,
        lang=_lang(),
    )
    return make_response(html, status)


@bp.get("/")
@access.inmate()
def index() -> ResponseReturnValue:
    """The catalogue: by category, searchable, a page at a time."""
    return _catalogue()


@bp.post("/cart/add")
@access.inmate()
def add() -> ResponseReturnValue:
    """Put a product in the cart and come back to the same list."""
    form = AddForm()
    inmate = _inmate()
    if not form.validate():
        return _catalogue(400, error=_("The form had expired. Please try again."))
    product_id = _product_id(form.product_id.data)
    try:
        item = commissary.add_to_cart(
            db(),
            actor=actor(),
            inmate=inmate,
            product_id=product_id,
            raw_quantity=form.quantity.data,
            now=now(),
        )
    except NotFound:
        raise
    except DomainError as exc:
        typed = (form.quantity.data or "")[:8]
        return _catalogue(exc.status, error=exc.message, error_product=product_id, typed=typed)
    flash(
        _(
            "%(name)s is in your cart (%(n)d).",
            name=item.product.name(_lang()),
            n=item.quantity,
        ),
        "success",
    )
    target = safe_next(form.next.data, url_for("shop.index"))
    return make_response(redirect(target), 303)


def _cart_page(
    status: int = 200,
    *,
    error: Any = None,
    error_product: int | None = None,
    typed: str = "",
) -> ResponseReturnValue:
    inmate = _inmate()
    session = db()
    cart = commissary.cart_items(session, inmate.id)
    total = sum(i.quantity * i.product.price for i in cart)
    summary = commissary.summary(session, inmate, now())
    form = PlaceForm(formdata=None)
    form.key.data = commissary.new_order_key()
    html = render_template(
        "shop/cart.html",
        cart=cart,
        total=total,
        summary=summary,
        form=form,
        error=error,
        error_product=error_product,
        typed=typed,
        lang=_lang(),
    )
    return make_response(html, status)


@bp.get("/cart")
@access.inmate()
def cart() -> ResponseReturnValue:
    """The cart with totals and what is left after this order."""
    return _cart_page()


@bp.post("/cart/<id:product_id>")
@access.inmate()
def update(product_id: int) -> ResponseReturnValue:
    """Change how many of a product are in the cart."""
    form = QuantityForm()
    if not form.validate():
        return _cart_page(400, error=_("The form had expired. Please try again."))
    try:
        commissary.add_to_cart(
            db(),
            actor=actor(),
            inmate=_inmate(),
            product_id=product_id,
            raw_quantity=form.quantity.data,
            replace=True,
            now=now(),
        )
    except NotFound:
        raise
    except DomainError as exc:
        typed = (form.quantity.data or "")[:8]
        return _cart_page(exc.status, error=exc.message, error_product=product_id, typed=typed)
    flash(_("The cart is updated."), "success")
    return make_response(redirect(url_for("shop.cart")), 303)


@bp.post("/cart/<id:product_id>/remove")
@access.inmate()
def remove(product_id: int) -> ResponseReturnValue:
    """Take a product out of the cart."""
    form = CancelForm()
    if not form.validate():
        return _cart_page(400, error=_("The form had expired. Please try again."))
    commissary.remove_from_cart(
        db(), actor=actor(), inmate=_inmate(), product_id=product_id, now=now()
    )
    flash(_("The product was taken out of your cart."), "success")
    return make_response(redirect(url_for("shop.cart")), 303)


@bp.post("/order")
@access.inmate()
def place() -> ResponseReturnValue:
    """Place the order: money and stock are held at once; a second submit changes nothing."""
    form = PlaceForm()
    if not form.validate():
        return _cart_page(400, error=_("The form had expired. Please try again."))
    inmate = _inmate()
    session = db()
    items = commissary.cart_quantities(session, inmate.id)
    try:
        order, created = commissary.place_order(
            session,
            actor=actor(),
            inmate=inmate,
            items=items,
            key=form.key.data or "",
            now=now(),
        )
    except DomainError as exc:
        return _cart_page(exc.status, error=exc.message)
    if created:
        flash(_("Thank you. Your order is placed and the money is on hold."), "success")
    return make_response(redirect(url_for("shop.order", order_id=order.id)), 303)


@bp.get("/orders")
@access.inmate()
def orders() -> str:
    """Order history, newest first."""
    inmate = _inmate()
    number = _page()
    rows = list(
        db().scalars(
            select(Order)
            .options(raiseload(Order.lines), raiseload(Order.inmate))
            .where(Order.inmate_id == inmate.id)
            .order_by(Order.id.desc())
            .limit(PER_PAGE + 1)
            .offset((number - 1) * PER_PAGE)
        )
    )
    return render_template(
        "shop/orders.html",
        orders=rows[:PER_PAGE],
        page=number,
        has_next=len(rows) > PER_PAGE,
        status_labels=STATUS_LABELS,
    )


def _own_order(order_id: int) -> Order:
    order = db().get(Order, order_id)
    if order is None or order.inmate_id != _inmate().id:
        raise NotFound()
    return order


@bp.get("/orders/<id:order_id>")
@access.inmate()
def order(order_id: int) -> str:
    """One order: its lines, status and receipt."""
    found = _own_order(order_id)
    return render_template(
        "shop/order.html",
        order=found,
        status_labels=STATUS_LABELS,
        form=CancelForm(formdata=None),
        lang=_lang(),
    )


@bp.post("/orders/<id:order_id>/cancel")
@access.inmate()
def cancel(order_id: int) -> ResponseReturnValue:
    """Cancel an order that is not packed yet."""
    found = _own_order(order_id)
    form = CancelForm()
    status = 400
    error: Any = _("The form had expired. Please try again.")
    if form.validate():
        try:
            commissary.cancel_order(
                db(), actor=actor(), inmate=_inmate(), order_id=found.id, now=now()
            )
        except commissary.CommissaryError as exc:
            status, error = exc.status, exc.message
        else:
            flash(_("The order is cancelled and the money is yours to spend again."), "success")
            return make_response(redirect(url_for("shop.order", order_id=found.id)), 303)
    db().expire_all()
    html = render_template(
        "shop/order.html",
        order=_own_order(order_id),
        status_labels=STATUS_LABELS,
        form=form,
        error=error,
        lang=_lang(),
    )
    return make_response(html, status)


@bp.get("/products/<id:product_id>/picture")
@access.inmate()
def picture(product_id: int) -> ResponseReturnValue:
    """A product's picture, for inmates who may buy it."""
    product = commissary.product_for_inmate(db(), _inmate(), product_id)
    if product.picture_id is None:
        raise NotFound()
    media = db().get(MediaFile, product.picture_id)
    if media is None:
        raise NotFound()
    settings = get_state().settings
    return media_service.send_media(
        media,
        instance_path=settings.instance_path,
        accel_prefix=settings.media_accel_prefix,
    )
