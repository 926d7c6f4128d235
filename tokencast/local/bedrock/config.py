"""How the local model behaves (pacing, model ids, seed, faults armed at construction)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tokencast.config import LOCAL_MODEL_ID
from tokencast.local.bedrock.faults import FaultRule


class LocalBedrockConfig(BaseModel):
    """How the local model behaves; faults listed here are armed when it is constructed."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    model_ids: list[str] = Field(default_factory=lambda: [LOCAL_MODEL_ID], description="ids answered; others get 404")
    accept_any_model: bool = False
    first_token_delay_s: float = Field(0.05, ge=0, description="time from request to the first token")
    tokens_per_second: float = Field(150.0, gt=0)
    seed: int = Field(0, description="default seed; a request may override it with additionalModelRequestFields.seed")
    faults: list[FaultRule] = Field(default_factory=list)
    recent_requests: int = Field(1000, ge=0, description="how many per-request records stats keep")
    record_emits: bool = Field(
        False, description="keep when each token was written, per prompt fingerprint (benchmarks read emits())"
    )
