"""gunicorn entry for a WSGI service named by OCX_REAL_WSGI (e.g. keystone.wsgi.api).

The services read the server's own command line as their configuration, so it is emptied
before they are imported.
"""
import importlib
import os
import sys

sys.argv = sys.argv[:1]
application = importlib.import_module(os.environ["OCX_REAL_WSGI"]).application
