"""A standard OAuth2 client library (requests-oauthlib) against a running healthpoints:
the client-credentials grant of RFC 6749 §4.4 with HTTP Basic client authentication, then with
client_secret_post, a narrowed scope, the token used on the API, and a wrong secret refused as
`invalid_client`.

    python3 .ci/oauth2_client.py BASE_URL CLIENT_ID CLIENT_SECRET
"""

import os
import sys

# The test talks to a loopback gateway over plain HTTP; in production the gateway is behind TLS.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

from oauthlib.oauth2 import BackendApplicationClient
from oauthlib.oauth2.rfc6749.errors import InvalidClientError, InvalidScopeError
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

base, client_id, secret = sys.argv[1:4]
token_url = f"{base}/v1/auth/token"


def session():
    return OAuth2Session(client=BackendApplicationClient(client_id=client_id))


# client_secret_basic, asking for one scope the partner holds: the token carries just that one.
s = session()
token = s.fetch_token(
    token_url=token_url, auth=HTTPBasicAuth(client_id, secret), scope=["statistics:read"]
)
assert token["token_type"].lower() == "bearer", token
assert token["scope"] == ["statistics:read"], token
assert token["expires_in"] > 0, token
r = s.get(f"{base}/v1/partner/statistics")
assert r.status_code == 200, (r.status_code, r.text)
r = s.post(f"{base}/v1/partner/behaviours", json=[])
assert r.status_code == 403, ("a scope not asked for is not held", r.status_code, r.text)

# client_secret_post, no scope asked: every scope the partner holds.
s = session()
token = s.fetch_token(
    token_url=token_url, client_id=client_id, client_secret=secret, include_client_id=True
)
assert "behaviours:submit" in token["scope"] and "statistics:read" in token["scope"], token
assert s.get(f"{base}/v1/partner/statistics").status_code == 200

# A wrong secret, and a scope the partner does not hold: the library raises the RFC's errors.
for attempt, expected in (
    (dict(auth=HTTPBasicAuth(client_id, secret + "x")), InvalidClientError),
    (dict(auth=HTTPBasicAuth(client_id, secret), scope=["contracts:submit"]), InvalidScopeError),
):
    try:
        session().fetch_token(token_url=token_url, **attempt)
    except expected:
        pass
    else:
        raise AssertionError(f"expected {expected.__name__}")

print("oauth2 client: basic, post, scope and refusals as RFC 6749 says")
