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

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, create_model

# Bounds given as json_schema_extra are in the schema sent to the provider only (a grammar-constrained
# model cannot break them), not enforced on the reply: the generator drops an item that breaks them
# instead of re-asking the whole batch. A bound given to Field itself is enforced (the reply is re-asked).
NUMBER = {"minimum": 1}  # items are numbered from 1 in the prompts


class GeneratedExample(BaseModel):
    input: str = Field(description="the user's message, exactly as they would write it",
                       json_schema_extra={"minLength": 3})
    response: str = Field(description="the ideal response to it", json_schema_extra={"minLength": 1})


class GeneratedBatch(BaseModel):
    examples: list[GeneratedExample] = Field(min_length=1)  # an empty reply ({}) is re-asked


@lru_cache(maxsize=32)
def labeled_batch(labels: tuple[str, ...]) -> type[BaseModel]:
    """GeneratedBatch for a classification task with a known label set: ``response`` is one of the labels
    (an enum in the JSON schema, so a grammar-constrained model can only answer with a label)."""
    label = Literal[labels]  # type: ignore[valid-type]
    example = create_model("LabeledExample", input=(str, Field(description="the user's message, exactly as "
                                                                            "they would write it")),
                           response=(label, Field(description="the one label this input gets")))
    return create_model("GeneratedBatch", examples=(list[example], Field(min_length=1)))  # type: ignore[valid-type]


class Revision(BaseModel):
    index: int = Field(description="the number of the example", json_schema_extra=NUMBER)
    critique: str = Field("", description="what is wrong or missing, briefly; empty if nothing")
    revised_response: str = Field("", description="the improved response (the original if it was already excellent)")


class CritiqueBatch(BaseModel):
    revisions: list[Revision] = Field(default_factory=list)


class Verdict(BaseModel):
    index: int = Field(description="the number of the example", json_schema_extra=NUMBER)
    passed: bool = Field(description="true only if the response is correct, complete and follows every rule")
    reason: str = Field("", description="why it fails; empty if it passes")


class VerificationBatch(BaseModel):
    verdicts: list[Verdict] = Field(default_factory=list, json_schema_extra={"minItems": 1})


class RejectedResponse(BaseModel):
    index: int = Field(description="the number of the example", json_schema_extra=NUMBER)
    response: str = Field(description="the worse response, written the way its strategy asks",
                          json_schema_extra={"minLength": 1})


class RejectedBatch(BaseModel):
    responses: list[RejectedResponse] = Field(default_factory=list, json_schema_extra={"minItems": 1})


SCHEMAS: tuple[type[BaseModel], ...] = (GeneratedBatch, CritiqueBatch, VerificationBatch, RejectedBatch)
