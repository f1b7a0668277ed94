"""The demo's configuration (demo/demo.env), for tests that run the product as the demo does."""

from pathlib import Path

DEMO_ENV = Path(__file__).resolve().parents[2] / "demo" / "demo.env"


def demo_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in DEMO_ENV.read_text().splitlines() if line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def demo_settings(settings) -> None:
    """Apply what the demo's configuration changes in the product's behaviour to pytest-django's settings."""
    env = demo_env()
    settings.PLATFORM_AWS_PRINCIPAL_ARN = env["PLATFORM_AWS_PRINCIPAL_ARN"]
    settings.AWS_DEFAULT_REGION = env["AWS_DEFAULT_REGION"]
    settings.WASTE_AGE_TAG = env["WASTE_AGE_TAG"]
