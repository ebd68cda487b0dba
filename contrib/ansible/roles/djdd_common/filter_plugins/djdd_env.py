# Filters for secrets.env, the site's systemd EnvironmentFile:
#   djdd_env_parse  text -> dict, parsed the way systemd (and the site's
#                   envfile helper) parse EnvironmentFile= (comments, KEY=value,
#                   "double" quotes with backslash escapes, 'single' quotes)
#   djdd_env_quote  value -> "value" with \ " $ ` escaped, as the postinst writes
#   djdd_env_format dict -> KEY="value" lines (sorted), the file's content
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

SHELL_NEED_ESCAPE = '"\\`$'
WHITESPACE = " \t"


def _unescape_double(s, i):
    """Parses a double-quoted word starting after the quote; (value, index after)."""
    out = []
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 < len(s) and s[i + 1] == "\n":
                i += 2
                continue
            if i + 1 < len(s) and s[i + 1] in SHELL_NEED_ESCAPE:
                out.append(s[i + 1])
                i += 2
                continue
            out.append(c)
            i += 1
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise AnsibleFilterError("secrets.env: a double quote is not closed")


def djdd_env_parse(text):
    result = {}
    i = 0
    text = str(text)
    n = len(text)
    while i < n:
        # Skip blank space and empty lines.
        while i < n and text[i] in WHITESPACE + "\n\r":
            i += 1
        if i >= n:
            break
        if text[i] in "#;":
            while i < n and text[i] not in "\n\r":
                i += 1
            continue
        eq = text.find("=", i)
        nl = text.find("\n", i)
        if eq < 0 or (0 <= nl < eq):
            # A line without '=' is ignored (systemd warns and skips it).
            i = n if nl < 0 else nl + 1
            continue
        key = text[i:eq].strip()
        i = eq + 1
        while i < n and text[i] in WHITESPACE:
            i += 1
        value = []
        while i < n and text[i] not in "\n\r":
            c = text[i]
            if c == '"':
                v, i = _unescape_double(text, i + 1)
                value.append(v)
            elif c == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise AnsibleFilterError("secrets.env: a single quote is not closed")
                value.append(text[i + 1:end])
                i = end + 1
            elif c == "\\" and i + 1 < n:
                if text[i + 1] != "\n":
                    value.append(text[i + 1])
                i += 2
            else:
                value.append(c)
                i += 1
        result[key] = "".join(value).rstrip(WHITESPACE)
    return result


def djdd_env_quote(value):
    value = str(value)
    if "\n" in value or "\r" in value:
        raise AnsibleFilterError("a secret must be one line")
    out = []
    for c in value:
        if c in SHELL_NEED_ESCAPE:
            out.append("\\")
        out.append(c)
    return '"' + "".join(out) + '"'


def djdd_env_format(secrets):
    lines = []
    for key in sorted(secrets):
        lines.append("%s=%s" % (key, djdd_env_quote(secrets[key])))
    return "\n".join(lines) + "\n"


class FilterModule(object):
    def filters(self):
        return {
            "djdd_env_parse": djdd_env_parse,
            "djdd_env_quote": djdd_env_quote,
            "djdd_env_format": djdd_env_format,
        }
