"""What the generation prompts ask the model to return (the gateway validates replies against these).

    schema             prompt template            role                 what for
    GeneratedBatch     generate_common/edge/      strategy.role        inputs + good responses of one cell
                       refusal
    CritiqueBatch      generate_critique          strategy.role        self-critique + revised responses
    VerificationBatch  generate_verify            strategy.role        pass / fail per response (failures dropped)
    RejectedBatch      generate_rejected          generator_fast       worse responses: off_topic, verbose,
                                                                       tone_mismatch (DPO rejected, KTO undesirable)
    (plain text)       generate_weak              weak                 the weak model's answer (weak_model)
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class GeneratedExample(BaseModel):
    input: str = Field(description="the user's message, exactly as they would write it")
    response: str = Field(description="the ideal response to it")


class GeneratedBatch(BaseModel):
    examples: list[GeneratedExample] = Field(default_factory=list)


class Revision(BaseModel):
    index: int = Field(description="the number of the example")
    critique: str = Field("", description="what is wrong or missing, briefly; empty if nothing")
    revised_response: str = Field("", description="the improved response (the original if it was already excellent)")


class CritiqueBatch(BaseModel):
    revisions: list[Revision] = Field(default_factory=list)


class Verdict(BaseModel):
    index: int = Field(description="the number of the example")
    passed: bool = Field(description="true only if the response is correct, complete and follows every rule")
    reason: str = Field("", description="why it fails; empty if it passes")


class VerificationBatch(BaseModel):
    verdicts: list[Verdict] = Field(default_factory=list)


class RejectedResponse(BaseModel):
    index: int = Field(description="the number of the example")
    response: str = Field(description="the worse response, written the way its strategy asks")


class RejectedBatch(BaseModel):
    responses: list[RejectedResponse] = Field(default_factory=list)


SCHEMAS: tuple[type[BaseModel], ...] = (GeneratedBatch, CritiqueBatch, VerificationBatch, RejectedBatch)
