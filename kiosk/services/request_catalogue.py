"""The starting catalogue of request types, shipped with the product (staff edit it later).

Texts are data in both languages (not gettext messages): staff change them in
the type editor like any other type.
"""

from __future__ import annotations

from typing import Any

from kiosk.models.people import Role
from kiosk.models.requests import Category, Effect, Sensitivity


def _t(sv: str, en: str) -> dict[str, str]:
    return {"sv": sv, "en": en}


def _long(
    key: str, sv: str, en: str, *, required: bool = True, max_length: int = 2000
) -> dict[str, Any]:
    return {
        "key": key,
        "kind": "long_text",
        "label": _t(sv, en),
        "required": required,
        "max_length": max_length,
    }


def _short(
    key: str, sv: str, en: str, *, required: bool = True, max_length: int = 120
) -> dict[str, Any]:
    return {
        "key": key,
        "kind": "short_text",
        "label": _t(sv, en),
        "required": required,
        "max_length": max_length,
    }


def _yes_no(key: str, sv: str, en: str) -> dict[str, Any]:
    return {"key": key, "kind": "yes_no", "label": _t(sv, en), "required": True}


_URGENT = _yes_no("urgent", "Är det bråttom?", "Is it urgent?")
_HEALTH_HELP = _t(
    "Bara vårdpersonal läser det du skriver. Vid akut sjukdom: tala med personalen direkt.",
    "Only healthcare staff read what you write. If it is an emergency, tell the staff at once.",
)


def _health(code: str, sv: str, en: str, days: int, *, one_open: bool = True) -> dict[str, Any]:
    return {
        "code": code,
        "names": _t(sv, en),
        "help_texts": _HEALTH_HELP,
        "category": Category.HEALTH,
        "handler_role": Role.HEALTHCARE,
        "sensitivity": Sensitivity.HEALTH,
        "reply_days": days,
        "one_open": one_open,
        "fields": [
            _long("problem", "Beskriv dina besvär", "Describe your problem", max_length=1500),
            {
                "key": "since",
                "kind": "date",
                "label": _t("Sedan när? (valfritt)", "Since when? (optional)"),
                "required": False,
            },
            _URGENT,
        ],
    }


CATALOGUE: list[dict[str, Any]] = [
    _health("nurse", "Träffa sjuksköterska", "See a nurse", 2),
    _health("doctor", "Träffa läkare", "See a doctor", 3),
    _health("dentist", "Träffa tandläkare", "See a dentist", 5),
    _health("psychologist", "Träffa psykolog", "See a psychologist", 5),
    {
        "code": "chaplain",
        "names": _t(
            "Träffa präst eller annan andlig företrädare", "See a chaplain or faith representative"
        ),
        "help_texts": _t(
            "Skriv vilken tro eller vilket samfund det gäller om du vill.",
            "Say which faith or community, if you like.",
        ),
        "category": Category.FAITH,
        "handler_role": Role.CHAPLAIN,
        "sensitivity": Sensitivity.NORMAL,
        "reply_days": 5,
        "one_open": True,
        "fields": [
            _short(
                "faith",
                "Tro eller samfund (valfritt)",
                "Faith or community (optional)",
                required=False,
            ),
            _long(
                "message",
                "Vad vill du prata om? (valfritt)",
                "What would you like to talk about? (optional)",
                required=False,
                max_length=1000,
            ),
        ],
    },
    {
        "code": "hairdresser",
        "names": _t("Klippning", "Haircut"),
        "help_texts": _t("Du får en tid av personalen.", "Staff give you a time."),
        "category": Category.DAILY_LIFE,
        "handler_role": Role.OFFICER,
        "sensitivity": Sensitivity.NORMAL,
        "reply_days": 5,
        "one_open": True,
        "fields": [
            {
                "key": "service",
                "kind": "choice",
                "label": _t("Vad vill du ha?", "What would you like?"),
                "required": True,
                "choices": [
                    {"value": "cut", "label": _t("Klippning", "Haircut")},
                    {"value": "beard", "label": _t("Skäggtrimning", "Beard trim")},
                    {"value": "both", "label": _t("Båda", "Both")},
                ],
            },
        ],
    },
    {
        "code": "money",
        "names": _t("Fråga om pengar och konto", "Money and account question"),
        "help_texts": _t(
            "Frågor om ditt saldo, insättningar, ersättning eller dragningar.",
            "Questions about your balance, deposits, pay or deductions.",
        ),
        "category": Category.MONEY,
        "handler_role": Role.COMMISSARY,
        "sensitivity": Sensitivity.NORMAL,
        "reply_days": 3,
        "fields": [_long("question", "Din fråga", "Your question", max_length=1500)],
    },
    {
        "code": "complaint",
        "names": _t("Klagomål", "Complaint"),
        "help_texts": _t(
            "Beskriv vad som hänt, när och var. Du får alltid ett svar.",
            "Say what happened, when and where. You will always get an answer.",
        ),
        "category": Category.COMPLAINT,
        "handler_role": Role.CASEWORKER,
        "sensitivity": Sensitivity.COMPLAINT,
        "reply_days": 10,
        "fields": [
            {
                "key": "when",
                "kind": "date",
                "label": _t("När hände det?", "When did it happen?"),
                "required": False,
            },
            _long("what", "Vad hände?", "What happened?", max_length=3000),
        ],
    },
    {
        "code": "complaint_staff",
        "names": _t("Klagomål på en anställd", "Complaint about a staff member"),
        "help_texts": _t(
            "Den anställda du klagar på får inte se ditt klagomål. Det går till anstaltsledningen.",
            "The staff member you complain about cannot see your complaint. "
            "It goes to the prison management.",
        ),
        "category": Category.COMPLAINT,
        "handler_role": Role.ADMIN,
        "sensitivity": Sensitivity.COMPLAINT,
        "names_staff": True,
        "reply_days": 10,
        "fields": [
            _short(
                "staff_name",
                "Vem gäller det? (namn eller beskrivning)",
                "Who is it about? (name or description)",
                max_length=120,
            ),
            {
                "key": "when",
                "kind": "date",
                "label": _t("När hände det?", "When did it happen?"),
                "required": False,
            },
            _long("what", "Vad hände?", "What happened?", max_length=3000),
        ],
    },
    {
        "code": "contact_add",
        "names": _t("Lägga till telefonkontakt", "Add a phone contact"),
        "help_texts": _t(
            "När ansökan beviljas kan du ringa numret från anstaltens telefon.",
            "When it is approved you can call the number from the prison phone.",
        ),
        "category": Category.CONTACTS,
        "handler_role": Role.CASEWORKER,
        "sensitivity": Sensitivity.NORMAL,
        "effect": Effect.ADD_CONTACT,
        "reply_days": 5,
        "fields": [
            _short("name", "Kontaktens namn", "Contact's name", max_length=120),
            _short(
                "relation",
                "Relation (till exempel mamma, advokat)",
                "Relation (for example mother, lawyer)",
                max_length=60,
            ),
            {
                "key": "number",
                "kind": "short_text",
                "label": _t("Telefonnummer", "Phone number"),
                "required": True,
                "max_length": 32,
            },
        ],
    },
    {
        "code": "contact_remove",
        "names": _t("Ta bort telefonkontakt", "Remove a phone contact"),
        "help_texts": _t("Skriv vilket nummer som ska tas bort.", "Say which number to remove."),
        "category": Category.CONTACTS,
        "handler_role": Role.CASEWORKER,
        "sensitivity": Sensitivity.NORMAL,
        "effect": Effect.REMOVE_CONTACT,
        "reply_days": 3,
        "fields": [
            _short("name", "Kontaktens namn", "Contact's name", max_length=120),
            {
                "key": "number",
                "kind": "short_text",
                "label": _t("Telefonnummer", "Phone number"),
                "required": True,
                "max_length": 32,
            },
        ],
    },
    {
        "code": "visit",
        "names": _t("Boka besök", "Book a visit"),
        "help_texts": _t(
            "Besökare måste vara godkända. Föreslå en dag; personalen bekräftar tiden.",
            "Visitors must be approved. Suggest a day; staff confirm the time.",
        ),
        "category": Category.VISITS,
        "handler_role": Role.CASEWORKER,
        "sensitivity": Sensitivity.NORMAL,
        "effect": Effect.BOOK_VISIT,
        "reply_days": 5,
        "one_open": True,
        "fields": [
            {
                "key": "date",
                "kind": "date",
                "label": _t("Önskad dag", "Preferred day"),
                "required": True,
            },
            _long(
                "visitors",
                "Besökare (namn och relation)",
                "Visitors (name and relation)",
                max_length=500,
            ),
            {
                "key": "count",
                "kind": "number",
                "label": _t("Antal besökare", "Number of visitors"),
                "required": True,
                "min": 1,
                "max": 4,
            },
        ],
    },
    {
        "code": "library",
        "names": _t("Bibliotek", "Library"),
        "help_texts": _t(
            "Önska en bok, tidning eller ett biblioteksbesök.",
            "Ask for a book, a magazine or a library visit.",
        ),
        "category": Category.EDUCATION,
        "handler_role": Role.OFFICER,
        "sensitivity": Sensitivity.NORMAL,
        "reply_days": 5,
        "fields": [_long("wish", "Vad önskar du?", "What would you like?", max_length=1000)],
    },
    {
        "code": "education",
        "names": _t("Plats i utbildning eller program", "Place in education or a programme"),
        "help_texts": _t(
            "Skriv vilken utbildning eller vilket program.", "Say which course or programme."
        ),
        "category": Category.EDUCATION,
        "handler_role": Role.CASEWORKER,
        "sensitivity": Sensitivity.NORMAL,
        "reply_days": 10,
        "one_open": True,
        "fields": [
            _short("programme", "Utbildning eller program", "Course or programme", max_length=120),
            _long(
                "why",
                "Varför vill du gå den? (valfritt)",
                "Why would you like to take it? (optional)",
                required=False,
                max_length=1000,
            ),
        ],
    },
    {
        "code": "property",
        "names": _t("Personliga tillhörigheter", "Property"),
        "help_texts": _t(
            "Hämta ut, lämna in eller fråga om dina saker i förrådet.",
            "Take out, hand in or ask about your things in storage.",
        ),
        "category": Category.DAILY_LIFE,
        "handler_role": Role.OFFICER,
        "sensitivity": Sensitivity.NORMAL,
        "reply_days": 5,
        "fields": [
            {
                "key": "action",
                "kind": "choice",
                "label": _t("Vad gäller det?", "What is it about?"),
                "required": True,
                "choices": [
                    {"value": "out", "label": _t("Hämta ut", "Take out")},
                    {"value": "in", "label": _t("Lämna in", "Hand in")},
                    {"value": "question", "label": _t("Fråga", "Question")},
                ],
            },
            _long("items", "Vilka saker?", "Which things?", max_length=1000),
        ],
    },
    {
        "code": "work",
        "names": _t("Arbete och sysselsättning", "Work"),
        "help_texts": _t(
            "Ansök om arbete eller byte av sysselsättning.",
            "Apply for work or for a change of occupation.",
        ),
        "category": Category.WORK,
        "handler_role": Role.CASEWORKER,
        "sensitivity": Sensitivity.NORMAL,
        "reply_days": 10,
        "one_open": True,
        "fields": [
            _long("wish", "Vilket arbete och varför?", "Which work, and why?", max_length=1500)
        ],
    },
]
