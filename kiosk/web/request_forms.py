"""Request forms built from a type's field definitions (portal and staff app share them)."""

from __future__ import annotations

from typing import Any

from wtforms import Field, HiddenField, RadioField, StringField, TextAreaField
from wtforms.widgets import DateInput, NumberInput

from kiosk.i18n import _, _l
from kiosk.models.requests import FieldKind, RequestType
from kiosk.services.requests import localized
from kiosk.web.forms import BaseForm

# Statuses in the inmate's words.
INMATE_STATUS_LABELS: dict[str, Any] = {
    "submitted": _l("Sent"),
    "in_progress": _l("Being handled"),
    "waiting": _l("Waiting for you"),
    "approved": _l("Approved"),
    "rejected": _l("Refused"),
    "answered": _l("Answered"),
    "closed": _l("Closed"),
    "withdrawn": _l("Withdrawn"),
}


def form_class(rtype: RequestType) -> type[BaseForm]:
    """A form with one field per definition; the service checks the values (one rule)."""

    class TypeForm(BaseForm):
        idem = HiddenField()

    for spec in rtype.fields:
        kind = FieldKind(spec["kind"])
        label = localized(spec["label"])
        field: Field
        if kind is FieldKind.LONG_TEXT:
            field = TextAreaField(label)
        elif kind is FieldKind.CHOICE:
            field = RadioField(
                label,
                choices=[(c["value"], localized(c["label"])) for c in spec.get("choices", [])],
                validate_choice=False,
            )
        elif kind is FieldKind.YES_NO:
            field = RadioField(
                label, choices=[("yes", _("Yes")), ("no", _("No"))], validate_choice=False
            )
        elif kind is FieldKind.DATE:
            field = StringField(label, widget=DateInput())
        elif kind is FieldKind.NUMBER:
            field = StringField(label, widget=NumberInput())
        else:
            field = StringField(label)
        setattr(TypeForm, "f_" + spec["key"], field)
    return TypeForm


def form_fields(form: BaseForm, rtype: RequestType) -> list[dict[str, Any]]:
    """What a template needs to draw each field."""
    return [
        {
            "field": form["f_" + spec["key"]],
            "kind": spec["kind"],
            "required": spec.get("required", False),
            "max_length": spec.get("max_length"),
            "help": localized(spec.get("help")) if spec.get("help") else None,
        }
        for spec in rtype.fields
    ]
