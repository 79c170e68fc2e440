"""Web plumbing shared by the inmate portal and the staff app (never any route)."""
