"""djdd check's probe: imports a Django project the way djdd's build steps
and the site's processes will, and reports what it finds, one record a
line, fields separated by tabs (backslash, tab, newline and carriage return
escaped as \\\\, \\t, \\n, \\r). djdd interprets the records; this script
only observes. It writes nothing into the project (djdd runs it with
PYTHONDONTWRITEBYTECODE=1 and temp dirs for every writable path).

Usage (working directory: the project directory, where manage.py is):
  probe.py build SETTINGS WSGI|- CELERY|- COLLECTSTATIC(0|1)
  probe.py run SETTINGS CELERY|- DOMAIN
  probe.py requirements FILE

Records:
  ok STAGE                       a stage passed
  fail STAGE SUMMARY TRACEBACK   a stage failed (later stages are skipped
                                 when they depend on it)
  fact KEY VALUE                 a setting's value (run mode)
  check LEVEL ID MESSAGE HINT OBJ  a system check message (run mode)
  reqfail MESSAGE                pip cannot parse a requirements file
  reqskip REASON                 pip's parser is not available
  done                           the probe reached its end
"""

import importlib
import os
import sys
import traceback


def esc(value):
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


# Records go to the real stdout; whatever the project prints goes to
# stderr, so it cannot break a record.
RECORDS = sys.stdout
sys.stdout = sys.stderr


def out(*fields):
    RECORDS.write("\t".join(esc(f) for f in fields) + "\n")
    RECORDS.flush()


def summary(exc):
    if isinstance(exc, SyntaxError) and exc.filename:
        name = os.path.relpath(exc.filename) if os.path.isabs(exc.filename) else exc.filename
        return f"{type(exc).__name__}: {exc.msg} ({name}, line {exc.lineno})"
    if isinstance(exc, SystemExit):
        return f"SystemExit: the module called sys.exit({exc.code!r})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fail(stage, exc):
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    # Keep the project's frames and the libraries', not the import
    # machinery's (<frozen ...>) or this probe's (<string>).
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if not f.filename.startswith("<")]
    )
    out("fail", stage, summary(exc), "".join(te.format())[-3000:])


def load(spec, default_attrs):
    """Imports MODULE or MODULE:ATTR and returns the object."""
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    if attr:
        if not hasattr(module, attr):
            raise AttributeError(f"module {module_name!r} has no attribute {attr!r}")
        return getattr(module, attr)
    for name in default_attrs:
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(
        f"module {module_name!r} has none of the attributes {', '.join(default_attrs)}"
    )


def start(settings):
    """Imports django and the settings module, then django.setup()."""
    try:
        import django  # noqa: F401
    except BaseException as exc:  # noqa: BLE001
        fail("django", exc)
        return False
    try:
        importlib.import_module(settings)
    except BaseException as exc:  # noqa: BLE001
        fail("settings", exc)
        return False
    out("ok", "settings")
    try:
        django.setup()
    except BaseException as exc:  # noqa: BLE001
        fail("setup", exc)
        return False
    out("ok", "setup")
    return True


def build(settings, wsgi, celery, collectstatic):
    if not start(settings):
        return
    if wsgi != "-":
        try:
            app = load(wsgi, ["application"])
            if not callable(app):
                raise TypeError(f"{wsgi} is a {type(app).__name__}, not a callable")
            out("ok", "wsgi")
        except BaseException as exc:  # noqa: BLE001
            fail("wsgi", exc)
    if celery != "-":
        try:
            app = load(celery, ["celery", "app"])
            if not hasattr(app, "send_task"):
                raise TypeError(f"{celery} is a {type(app).__name__}, not a celery app")
            out("ok", "celery")
        except BaseException as exc:  # noqa: BLE001
            fail("celery", exc)
    if collectstatic == "1":
        try:
            from django.core.management import call_command

            call_command("collectstatic", interactive=False, verbosity=0)
            out("ok", "collectstatic")
        except BaseException as exc:  # noqa: BLE001
            fail("collectstatic", exc)


def run(settings, celery, domain):
    if not start(settings):
        return
    from django.conf import settings as s

    def fact(key, value):
        out("fact", key, "None" if value is None else value)

    fact("SECRET_KEY", getattr(s, "SECRET_KEY", None))
    fact("DEBUG", getattr(s, "DEBUG", None))
    fact("STATIC_ROOT", getattr(s, "STATIC_ROOT", None))
    fact("STATIC_URL", getattr(s, "STATIC_URL", None))
    fact("MEDIA_ROOT", getattr(s, "MEDIA_ROOT", None))
    fact("MEDIA_URL", getattr(s, "MEDIA_URL", None))
    hosts = list(getattr(s, "ALLOWED_HOSTS", []) or [])
    fact("ALLOWED_HOSTS", ",".join(str(h) for h in hosts))
    try:
        from django.http.request import validate_host

        fact("host_allowed", "1" if validate_host(domain, hosts) else "0")
    except BaseException as exc:  # noqa: BLE001
        fail("hosts", exc)
    default_db = (getattr(s, "DATABASES", {}) or {}).get("default", {}) or {}
    fact("db_engine", default_db.get("ENGINE", ""))
    fact("db_name", default_db.get("NAME", ""))
    if celery != "-":
        try:
            app = load(celery, ["celery", "app"])
            fact("broker_url", app.conf.broker_url)
        except BaseException as exc:  # noqa: BLE001
            fail("celery", exc)
    try:
        from django.core import checks

        messages = checks.run_checks(include_deployment_checks=True)
    except BaseException as exc:  # noqa: BLE001
        fail("checks", exc)
        return
    for m in messages:
        if m.is_silenced() or m.level < checks.WARNING:
            continue
        level = {
            checks.WARNING: "WARNING",
            checks.ERROR: "ERROR",
            checks.CRITICAL: "CRITICAL",
        }.get(m.level, str(m.level))
        out("check", level, m.id or "", m.msg, m.hint or "", "" if m.obj is None else m.obj)
    out("ok", "checks")


def requirements(path):
    try:
        from pip._internal.network.session import PipSession
        from pip._internal.req.constructors import install_req_from_parsed_requirement
        from pip._internal.req.req_file import parse_requirements
    except BaseException as exc:  # noqa: BLE001
        out("reqskip", summary(exc))
        return
    try:
        for parsed in parse_requirements(path, session=PipSession()):
            install_req_from_parsed_requirement(parsed)
    except BaseException as exc:  # noqa: BLE001
        out("reqfail", str(exc) or type(exc).__name__)


def main(argv):
    sys.path.insert(0, os.getcwd())
    mode = argv[1]
    if mode == "build":
        build(*argv[2:6])
    elif mode == "run":
        run(*argv[2:5])
    elif mode == "requirements":
        requirements(argv[2])
    else:
        raise SystemExit(f"probe: unknown mode {mode!r}")
    out("done")


if __name__ == "__main__":
    main(sys.argv)
