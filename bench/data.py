"""Data at realistic scale, written in bulk, one generator per area of the product.

Rows go in with SQLAlchemy core ``insert`` of many rows at once (SQLite) or with
``COPY`` (PostgreSQL), never through the services one by one: 1,000,000 ledger
entries through the ORM would take longer than the whole benchmark. The price is
that generated data skips the services' checks and audit events, so each
generator writes rows exactly as the services would (ids of real parents,
consistent balances) and the smoke test reads the pages back through the apps.

An area whose tables are not in the database yet is skipped and reported, so the
harness runs on any state of ``main``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, inspect, select, text
from sqlalchemy import func as sa_func
from sqlalchemy import insert as sa_insert

from bench.config import Scale
from kiosk.db import Base, analyze
from kiosk.models import Role
from kiosk.security.tokens import new_token, token_hash
from kiosk.services import places

# Every generated inmate has this PIN and every staff member this password, so a
# person can sign in to a benchmark database by hand to look at it.
BENCH_PIN = "482916"
BENCH_PASSWORD = "bench-passphrase-2026"  # noqa: S105 - a throw-away benchmark account

FIRST = ("Ali", "Anna", "Erik", "Sara", "Mohammed", "Lena", "Jonas", "Maria", "Ahmed", "Eva")
LAST = ("Berg", "Lind", "Svensson", "Hassan", "Nilsson", "Karlsson", "Ali", "Holm", "Ek", "Sund")
CHUNK = 5000


@dataclass
class Generated:
    """What the generator made: ids the load generators and tests need."""

    database_url: str
    facilities: list[int] = field(default_factory=list)
    units: list[int] = field(default_factory=list)
    unit_facility: dict[int, int] = field(default_factory=dict)
    inmates: list[int] = field(default_factory=list)
    inmate_unit: dict[int, int] = field(default_factory=dict)
    staff: list[int] = field(default_factory=list)
    staff_roles: dict[int, str] = field(default_factory=dict)
    staff_facility: dict[int, int] = field(default_factory=dict)
    # (terminal id, device credential, inmate id that uses it)
    terminals: list[tuple[int, str, int]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    areas: dict[str, str] = field(default_factory=dict)
    # Per-area facts the pages need (a lesson id, a product id, ...).
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able copy (dict keys become strings)."""
        return {
            "database_url": self.database_url,
            "facilities": self.facilities,
            "units": self.units,
            "unit_facility": {str(k): v for k, v in self.unit_facility.items()},
            "inmates": self.inmates,
            "inmate_unit": {str(k): v for k, v in self.inmate_unit.items()},
            "staff": self.staff,
            "staff_roles": {str(k): v for k, v in self.staff_roles.items()},
            "staff_facility": {str(k): v for k, v in self.staff_facility.items()},
            "terminals": [list(t) for t in self.terminals],
            "counts": self.counts,
            "areas": self.areas,
            "extra": self.extra,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Generated:
        """The inverse of ``to_json``."""
        return Generated(
            database_url=data["database_url"],
            facilities=list(data["facilities"]),
            units=list(data["units"]),
            unit_facility={int(k): v for k, v in data["unit_facility"].items()},
            inmates=list(data["inmates"]),
            inmate_unit={int(k): v for k, v in data["inmate_unit"].items()},
            staff=list(data["staff"]),
            staff_roles={int(k): v for k, v in data["staff_roles"].items()},
            staff_facility={int(k): v for k, v in data["staff_facility"].items()},
            terminals=[(int(a), str(b), int(c)) for a, b, c in data["terminals"]],
            counts=dict(data["counts"]),
            areas=dict(data["areas"]),
            extra=dict(data["extra"]),
        )


@dataclass
class Context:
    """What a generator gets: the connection, the scale, randomness and the results so far."""

    conn: Connection
    scale: Scale
    rng: random.Random
    now: dt.datetime
    result: Generated
    pin_hash: str
    password_hash: str
    totp_ciphertext: str
    vault: Any = None

    def vault_encrypt(self, text: str) -> str:
        """Encrypt as the services do for sensitive text (health, complaints)."""
        return str(self.vault.encrypt(text))

    @property
    def is_pg(self) -> bool:
        """True on PostgreSQL."""
        return self.conn.dialect.name == "postgresql"


@dataclass(frozen=True)
class Area:
    """One area of the product: the tables it needs and how to fill them."""

    name: str
    tables: tuple[str, ...]
    generate: Callable[[Context], None]


AREAS: list[Area] = []


def area(
    name: str, *tables: str
) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    """Register a generator for an area; it runs only when all its tables exist."""

    def wrap(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        AREAS.append(Area(name, tables, fn))
        return fn

    return wrap


# Bulk writing ------------------------------------------------------------------


def table(name: str) -> Table:
    """A table of the models' metadata."""
    return Base.metadata.tables[name]


def _with_defaults(tbl: Table, row: dict[str, Any]) -> dict[str, Any]:
    for col in tbl.columns:
        if col.name in row or col.default is None:
            continue
        default: Any = col.default
        if getattr(default, "is_scalar", False):
            row[col.name] = default.arg
        elif getattr(default, "is_callable", False):
            row[col.name] = default.arg(None)
    return row


def _copy_value(value: Any) -> Any:
    if hasattr(value, "value") and not isinstance(value, int | str | dt.datetime):
        return value.value  # an enum: stored as its value (native_enum=False)
    return value


def bulk_insert(conn: Connection, name: str, rows: Iterable[dict[str, Any]]) -> int:
    """Write many rows: COPY on PostgreSQL, multi-row inserts elsewhere. Returns the count."""
    tbl = table(name)
    count = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(_with_defaults(tbl, row))
        if len(batch) >= CHUNK:
            _flush(conn, tbl, batch)
            count += len(batch)
            batch = []
    if batch:
        _flush(conn, tbl, batch)
        count += len(batch)
    return count


def _sqlite_datetime(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


# How SQLAlchemy's SQLite types store each Python type (UTC text for times, 0/1 for booleans).
_SQLITE: dict[type, Callable[[Any], Any]] = {
    str: lambda v: v,
    int: lambda v: v,
    float: lambda v: v,
    type(None): lambda v: v,
    bool: int,
    dt.datetime: _sqlite_datetime,
    dt.date: lambda v: v.isoformat(),
    dict: json.dumps,
    list: json.dumps,
}


def _sqlite_value(value: Any) -> Any:
    """A value as SQLAlchemy's SQLite types would bind it."""
    convert = _SQLITE.get(type(value))
    if convert is not None:
        return convert(value)
    if hasattr(value, "value"):  # an enum (stored as its value)
        return value.value
    return value


def _flush(conn: Connection, tbl: Table, batch: list[dict[str, Any]]) -> None:
    columns = list(batch[0])
    raw: Any = conn.connection.driver_connection
    names = ", ".join(f'"{c}"' for c in columns)
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f'COPY "{tbl.name}" ({names}) FROM STDIN') as copy:
            for row in batch:
                copy.write_row([_copy_value(row[c]) for c in columns])
    elif conn.dialect.name == "sqlite" and all(_plain(tbl, c) for c in columns):
        # The driver directly, values converted as SQLAlchemy would: several times faster
        # than going through the statement compiler for a million rows.
        marks = ", ".join("?" for _ in columns)
        raw.executemany(
            f'INSERT INTO "{tbl.name}" ({names}) VALUES ({marks})',  # noqa: S608 - our own names
            [tuple(_sqlite_value(row[c]) for c in columns) for row in batch],
        )
    else:
        conn.execute(sa_insert(tbl), batch)


def _plain(tbl: Table, column: str) -> bool:
    """True for the column types ``_sqlite_value`` converts exactly as SQLAlchemy does."""
    from sqlalchemy import JSON

    return not isinstance(tbl.c[column].type, JSON)


def next_id(conn: Connection, name: str, column: str = "id") -> int:
    """The first free id of a table (ids are given explicitly, so parents are known)."""
    tbl = table(name)
    current = conn.scalar(select(sa_func.max(tbl.c[column])))
    return int(current or 0) + 1


def fix_sequence(conn: Connection, name: str, column: str = "id") -> None:
    """After explicit ids, move PostgreSQL's sequence past them (the apps insert next)."""
    if conn.dialect.name != "postgresql":
        return
    conn.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence('{name}', '{column}'), "  # noqa: S608 - our own table names
            f"COALESCE((SELECT MAX({column}) FROM {name}), 0) + 1, false)"
        )
    )


def _count(ctx: Context, name: str, n: int) -> None:
    ctx.result.counts[name] = ctx.result.counts.get(name, 0) + n


# The foundation: places, people, terminals ---------------------------------------


@area("places", "facilities", "units")
def generate_places(ctx: Context) -> None:
    """Facilities with their units, open around the clock (the benchmark never closes)."""
    hours = places.dump_hours(places.every_day("00:00-24:00"))
    fid = next_id(ctx.conn, "facilities")
    facilities = list(range(fid, fid + ctx.scale.facilities))
    bulk_insert(
        ctx.conn,
        "facilities",
        (
            {
                "id": f,
                "code": f"BF{f:04d}",
                "name": f"Bench facility {f}",
                "timezone": "Europe/Stockholm",
                "created_at": ctx.now,
            }
            for f in facilities
        ),
    )
    uid = next_id(ctx.conn, "units")
    units: list[dict[str, Any]] = []
    for f in facilities:
        for k in range(ctx.scale.units_per_facility):
            units.append(
                {
                    "id": uid,
                    "facility_id": f,
                    "code": chr(ord("A") + k),
                    "name": f"Unit {chr(ord('A') + k)}",
                    "opening_hours": hours,
                    "created_at": ctx.now,
                }
            )
            ctx.result.unit_facility[uid] = f
            uid += 1
    bulk_insert(ctx.conn, "units", units)
    ctx.result.facilities.extend(facilities)
    ctx.result.units.extend(u["id"] for u in units)
    fix_sequence(ctx.conn, "facilities")
    fix_sequence(ctx.conn, "units")
    _count(ctx, "facilities", len(facilities))
    _count(ctx, "units", len(units))


@area("people", "inmates", "staff", "staff_roles", "staff_facilities")
def generate_people(ctx: Context) -> None:
    """Inmates spread over the units; staff of every role, each in one facility."""
    rng = ctx.rng
    units = ctx.result.units
    first = next_id(ctx.conn, "inmates")
    rows: list[dict[str, Any]] = []
    for i in range(ctx.scale.inmates):
        iid = first + i
        unit = units[i % len(units)]
        ctx.result.inmate_unit[iid] = unit
        rows.append(
            {
                "id": iid,
                "booking_number": f"B2026-{iid:06d}",
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "facility_id": ctx.result.unit_facility[unit],
                "unit_id": unit,
                "preferred_language": "sv" if i % 4 else "en",
                "status": "active",
                "pin_hash": ctx.pin_hash,
                "pin_set_at": ctx.now,
                "pin_issued": i % 10 == 0,
                "failed_sign_ins": 0,
                "created_at": ctx.now - dt.timedelta(days=i % 700),
            }
        )
    bulk_insert(ctx.conn, "inmates", rows)
    ctx.result.inmates.extend(int(r["id"]) for r in rows)
    fix_sequence(ctx.conn, "inmates")

    roles = [r.value for r in Role]
    first = next_id(ctx.conn, "staff")
    staff_rows: list[dict[str, Any]] = []
    role_rows: list[dict[str, Any]] = []
    facility_rows: list[dict[str, Any]] = []
    for i in range(ctx.scale.staff):
        sid = first + i
        role = roles[i % len(roles)]
        facility = ctx.result.facilities[i % len(ctx.result.facilities)]
        staff_rows.append(
            {
                "id": sid,
                "username": f"bench{sid:05d}",
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "password_hash": ctx.password_hash,
                "password_changed_at": ctx.now,
                "must_change_password": False,
                "totp_secret": ctx.totp_ciphertext,
                "totp_confirmed_at": ctx.now,
                "active": True,
                "all_facilities": False,
                "preferred_language": "sv",
                "failed_sign_ins": 0,
                "created_at": ctx.now,
                "is_demo": False,
            }
        )
        role_rows.append({"staff_id": sid, "role": role})
        facility_rows.append({"staff_id": sid, "facility_id": facility})
        ctx.result.staff_roles[sid] = role
        ctx.result.staff_facility[sid] = facility
    bulk_insert(ctx.conn, "staff", staff_rows)
    bulk_insert(ctx.conn, "staff_roles", role_rows)
    bulk_insert(ctx.conn, "staff_facilities", facility_rows)
    ctx.result.staff.extend(int(r["id"]) for r in staff_rows)
    fix_sequence(ctx.conn, "staff")
    _count(ctx, "inmates", len(rows))
    _count(ctx, "staff", len(staff_rows))


@area("terminals", "terminals")
def generate_terminals(ctx: Context) -> None:
    """One enrolled terminal per simulated terminal, in the unit of the inmate who uses it."""
    first = next_id(ctx.conn, "terminals")
    rows: list[dict[str, Any]] = []
    inmates = ctx.result.inmates
    for i in range(ctx.scale.terminals):
        tid = first + i
        inmate = inmates[i % len(inmates)]
        credential = new_token()
        ctx.result.terminals.append((tid, credential, inmate))
        rows.append(
            {
                "id": tid,
                "name": f"Bench tablet {i}",
                "unit_id": ctx.result.inmate_unit[inmate],
                "credential_hash": token_hash(credential, "terminal"),
                "enrolled_at": ctx.now,
                "created_at": ctx.now,
            }
        )
    bulk_insert(ctx.conn, "terminals", rows)
    fix_sequence(ctx.conn, "terminals")
    _count(ctx, "terminals", len(rows))


# Running ------------------------------------------------------------------------


def generation_engine(url: str) -> Engine:
    """An engine for writing the data: on SQLite with a big page cache and no syncing.

    The secondary indexes of 200,000 requests and 1,000,000 ledger entries do not fit
    SQLite's default 2 MB cache; with 256 MB the generator runs several times faster.
    A crash while generating only loses a database the next run makes again.
    """
    from sqlalchemy import create_engine, event

    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        def pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA cache_size=-262144")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

        event.listen(engine, "connect", pragmas)
    return engine


def existing_tables(engine: Engine) -> set[str]:
    """The tables the database holds now."""
    return set(inspect(engine).get_table_names())


def generate(
    engine: Engine,
    scale: Scale,
    *,
    hasher: Any,
    vault: Any,
    now: dt.datetime,
    seed: int = 2026,
    areas: Sequence[Area] | None = None,
    result: Generated | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> Generated:
    """Fill a migrated database; areas whose tables are missing are skipped.

    With ``result`` (an earlier run's) the generators add to the same places and
    people: the query-count test grows the data under the same signed-in inmate.
    """
    import time

    import bench.areas  # noqa: F401 - every area registers its generator on import

    if result is None:
        result = Generated(database_url=engine.url.render_as_string(hide_password=True))
    present = existing_tables(engine)
    ctx_args = {
        "scale": scale,
        "rng": random.Random(seed),
        "now": now,
        "result": result,
        "pin_hash": hasher.hash_pin(BENCH_PIN),
        "password_hash": hasher.hash_password(BENCH_PASSWORD),
        "totp_ciphertext": vault.encrypt("JBSWY3DPEHPK3PXP"),
        "vault": vault,
    }
    for item in areas if areas is not None else AREAS:
        missing = [t for t in item.tables if t not in present or t not in Base.metadata.tables]
        if missing:
            result.areas[item.name] = f"skipped: no table {', '.join(missing)}"
            log(f"data: {item.name} skipped (no table {', '.join(missing)})")
            continue
        started = time.perf_counter()
        with engine.begin() as conn:
            item.generate(Context(conn=conn, **ctx_args))
        took = time.perf_counter() - started
        result.areas[item.name] = f"generated in {took:.1f} s"
        log(f"data: {item.name} in {took:.1f} s")
    # Planner statistics, as a site's nightly `kiosk db analyze` (kiosk-analyze.timer) keeps
    # them: without them SQLite picks poor indexes for some list pages.
    analyze(engine)
    return result


def dump(result: Generated) -> str:
    """JSON of a generation result."""
    return json.dumps(result.to_json())
