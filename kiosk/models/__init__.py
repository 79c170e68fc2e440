"""Every model, imported so that the metadata is complete."""

from kiosk.models.audit import AuditEvent, AuditHead
from kiosk.models.auth import PinThrottle, SignInFailure, SystemFlag, WebSession
from kiosk.models.media import MediaFile
from kiosk.models.people import (
    Inmate,
    InmateStatus,
    RecoveryCode,
    Role,
    Staff,
    StaffFacility,
    StaffRole,
)
from kiosk.models.places import Facility, Terminal, Unit

__all__ = [
    "AuditEvent",
    "AuditHead",
    "Facility",
    "Inmate",
    "InmateStatus",
    "MediaFile",
    "PinThrottle",
    "RecoveryCode",
    "Role",
    "SignInFailure",
    "Staff",
    "StaffFacility",
    "StaffRole",
    "SystemFlag",
    "Terminal",
    "Unit",
    "WebSession",
]
