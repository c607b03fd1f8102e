"""`serve:`: the real-time API over the last cycle's snapshot (`segsync serve`, or alongside the daemon)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from connector.config.base import Strict


class ServeConfig(Strict):
    """Where the API listens, its limits, and where the cycle publishes the snapshot it serves."""

    host: str = Field("127.0.0.1", description="Bind address; loopback unless you mean otherwise.")
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port (tests).")
    snapshot_dir: Path | None = Field(
        None,
        description="Folder the cycle publishes snapshots to and the API reads them from "
        "(default: '<state file>.snapshots' beside the state file). Relative to the config file.",
    )
    reload_seconds: float = Field(2.0, gt=0, le=3600, description="How often the API looks for a newer snapshot.")
    rate_limit_per_second: float = Field(200.0, gt=0, description="Sustained requests per second per API key.")
    rate_limit_burst: int = Field(400, ge=1, description="Requests a key may send at once above the sustained rate.")
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576, description="Larger request bodies get 413.")
    tls_cert_file: Path | None = Field(None, description="PEM certificate; with tls_key_file the API speaks HTTPS only.")
    tls_key_file: Path | None = Field(None, description="PEM private key for tls_cert_file.")

    @model_validator(mode="after")
    def _tls_pair(self) -> ServeConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both tls_cert_file and tls_key_file, or neither")
        return self
