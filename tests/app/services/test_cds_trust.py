from __future__ import annotations

import pytest

from app.services.cds_trust import CdsTrust, TokenRefused
from app.settings import CdsClient
from tests.app import cds_fixtures as fx

AUD = "https://medrec.example.org/cds-services/medrec-recommend"


def test_keys_from_a_jwks_url_on_loopback() -> None:
    with fx.StubFhirServer({"jwks": fx.jwks()}) as server:
        trust = CdsTrust([CdsClient(iss=fx.ISS, jwks_url=f"{server.url}/jwks")],
                         leeway_seconds=0, max_token_seconds=300)  # fmt: skip
        verified = trust.verify(fx.token(AUD, alg="ES384", kid="ec-1"), [AUD])
    assert verified.iss == fx.ISS and verified.jti


def test_an_overlong_token_and_a_key_of_the_wrong_type_are_refused() -> None:
    trust = CdsTrust([CdsClient(iss=fx.ISS, jwks=fx.jwks())], leeway_seconds=0,
                     max_token_seconds=300)  # fmt: skip
    long_lived = fx.token(AUD, exp=fx.claims(AUD)["iat"] + 3600)
    with pytest.raises(TokenRefused, match="lifetime"):
        trust.verify(long_lived, [AUD])
    with pytest.raises(TokenRefused, match="does not fit"):
        trust.verify(fx.token(AUD, kid="ec-1"), [AUD])  # RS384 header, EC key


def test_a_client_needs_exactly_one_key_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        CdsClient(iss=fx.ISS)
