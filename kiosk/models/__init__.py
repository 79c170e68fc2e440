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
from kiosk.models.whitelist import (
    CachedPage,
    OfflineLibrary,
    RuleStatus,
    SiteRequest,
    SiteRequestStatus,
    VisitVerdict,
    WhitelistRule,
    WhitelistVisit,
)

__all__ = [
    "AuditEvent",
    "AuditHead",
    "CachedPage",
    "ExternalAppointment",
    "Facility",
    "Inmate",
    "InmateRequest",
    "InmateStatus",
    "MediaFile",
    "OfflineLibrary",
    "PhoneContact",
    "PinThrottle",
    "RecoveryCode",
    "RequestEvent",
    "RequestGroupSupervisor",
    "RequestNamedStaff",
    "RequestType",
    "RequestTypeFacility",
    "Role",
    "RuleStatus",
    "SignInFailure",
    "SiteRequest",
    "SiteRequestStatus",
    "Staff",
    "StaffFacility",
    "StaffRole",
    "SystemFlag",
    "Terminal",
    "Unit",
    "Visit",
    "VisitVerdict",
    "WebSession",
    "WhitelistRule",
    "WhitelistVisit",
]
