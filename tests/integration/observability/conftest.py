"""OCX in front of simulated clouds (the gateway suite's ``ocx_env``), for issue 13's tests."""
from tests.integration.gateway.conftest import ocx_env  # noqa: F401 - fixture
from tests.postgres import postgres_url  # noqa: F401 - fixture
