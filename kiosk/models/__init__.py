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
from kiosk.models.requests import (
    ExternalAppointment,
    InmateRequest,
    PhoneContact,
    RequestEvent,
    RequestGroupSupervisor,
    RequestNamedStaff,
    RequestType,
    RequestTypeFacility,
    Visit,
)

__all__ = [
    "AuditEvent",
    "AuditHead",
    "ExternalAppointment",
    "Facility",
    "Inmate",
    "InmateRequest",
    "InmateStatus",
    "MediaFile",
    "PhoneContact",
    "PinThrottle",
    "RecoveryCode",
    "RequestEvent",
    "RequestGroupSupervisor",
    "RequestNamedStaff",
    "RequestType",
    "RequestTypeFacility",
    "Role",
    "SignInFailure",
    "Staff",
    "StaffFacility",
    "StaffRole",
    "SystemFlag",
    "Terminal",
    "Unit",
    "Visit",
    "WebSession",
]
