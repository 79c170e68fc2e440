"""gunicorn settings of the staff app.

Run: ``gunicorn -c admin/gunicorn.conf.py 'admin:create_app()'``.

The choices, each with its reason, are in ``kiosk/gunicorn_settings.py``.
"""

from kiosk.gunicorn_settings import settings_for

globals().update(settings_for("admin"))
