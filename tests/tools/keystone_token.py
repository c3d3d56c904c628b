"""What the OpenStack fakes in tests/tools (Heat's, Nova's) share: a token checked
against the real Keystone of the test, as a real service's keystonemiddleware would."""
import json, urllib.error, urllib.request


def token_project(keystone, token):
    """The project the token is scoped to, or None when Keystone refuses it."""
    req = urllib.request.Request(keystone.rstrip("/") + "/v3/auth/tokens",
                                 headers={"X-Auth-Token": token, "X-Subject-Token": token})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)["token"]["project"]["id"] or None
    except (urllib.error.URLError, KeyError, ValueError):
        return None
