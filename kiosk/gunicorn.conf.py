"""gunicorn settings of the inmate portal.

Run: ``gunicorn -c kiosk/gunicorn.conf.py 'kiosk:create_app()'``.

The choices, each with its reason, are in ``kiosk/gunicorn_settings.py``.
"""

from kiosk.gunicorn_settings import settings_for

globals().update(settings_for("kiosk"))
