"""Serializers: JSON and pydantic in a versioned envelope; anything else is rejected, never run."""

from __future__ import annotations

import datetime as dt
import math
import pickle
from typing import Any

import pytest
from pydantic import BaseModel

from valkey_redis.serializers import (
    JsonSerializer,
    PydanticSerializer,
    SerializationError,
    Serializer,
)


class User(BaseModel):
    """A small model to round-trip."""

    id: int
    name: str
    seen: dt.datetime


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -7, 1.5, "", "héllo ✓", [1, "a", None], {"a": {"b": [1, 2]}}, []],
)
def test_json_round_trips_json_values(value: Any) -> None:
    """Every JSON type comes back equal."""
    codec = JsonSerializer()
    assert value == codec.loads(codec.dumps(value))


def test_json_payload_is_compact_and_prefixed() -> None:
    """The envelope is ``v1:j:`` followed by compact, readable JSON."""
    assert JsonSerializer().dumps({"a": [1, 2], "é": "ü"}) == 'v1:j:{"a":[1,2],"é":"ü"}'


def test_json_turns_tuples_into_lists() -> None:
    """JSON has no tuples: documented, not silently surprising."""
    codec = JsonSerializer()
    assert codec.loads(codec.dumps((1, 2))) == [1, 2]


def test_json_refuses_non_json_values_with_a_hint() -> None:
    """A set cannot be cached as JSON; the error names the way out."""
    with pytest.raises(TypeError, match="PydanticSerializer"):
        JsonSerializer().dumps({1, 2})


def test_json_refuses_nan() -> None:
    """NaN is not standard JSON, so it is refused instead of written."""
    with pytest.raises(ValueError, match="JSON compliant"):
        JsonSerializer().dumps(math.nan)


def test_json_refuses_circular_values() -> None:
    """A value that contains itself is a ValueError at write time, like NaN."""
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="circular"):
        JsonSerializer().dumps(looped)
    assert JsonSerializer().dumps([1]) == "v1:j:[1]"  # the encoder is still usable


def test_json_reads_what_json_loads_reads() -> None:
    """Whitespace around the document is accepted, as by json.loads."""
    assert JsonSerializer().loads('v1:j: {"a": [1, 2]}\n') == {"a": [1, 2]}


class _Evil:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (print, ("pwned",))


@pytest.mark.parametrize(
    "data",
    [
        "",
        "garbage",
        '{"a": 1}',  # JSON without the envelope
        "v1:p:1",  # another format
        "v2:j:1",  # a future version
        "v1:j:{not json",
        "v1:j:[1]x",  # trailing garbage after a valid document
        "v1:j:",
        pickle.dumps(_Evil()).decode("latin-1"),
        "v1:j:" + pickle.dumps(_Evil()).decode("latin-1"),
        "v1:j:" + "[" * 100_000,  # deep nesting: RecursionError inside json
    ],
)
def test_json_rejects_anything_it_did_not_write(
    data: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Foreign text raises SerializationError (a ValueError) and runs nothing."""
    with pytest.raises(SerializationError):
        JsonSerializer().loads(data)
    assert "pwned" not in capsys.readouterr().out


def test_pydantic_round_trips_models_and_datetimes() -> None:
    """A model with a datetime comes back as an equal model, not a dict."""
    codec = PydanticSerializer(User)
    user = User(id=1, name="Ada", seen=dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC))
    payload = codec.dumps(user)
    assert payload.startswith("v1:p:")
    assert user == codec.loads(payload)


def test_pydantic_handles_generic_types() -> None:
    """Container types such as ``list[User]`` work through TypeAdapter."""
    codec: PydanticSerializer[list[dt.date]] = PydanticSerializer(list[dt.date])
    days = [dt.date(2024, 1, 1), dt.date(2024, 2, 29)]
    assert days == codec.loads(codec.dumps(days))


def test_pydantic_rejects_payloads_of_the_wrong_shape() -> None:
    """A payload that does not validate against the type is an error, not a half-object."""
    with pytest.raises(SerializationError, match="does not match"):
        PydanticSerializer(User).loads('v1:p:{"id": "not a number"}')


def test_pydantic_rejects_json_envelope() -> None:
    """The two formats are told apart by their prefix."""
    with pytest.raises(SerializationError):
        PydanticSerializer(int).loads(JsonSerializer().dumps(1))


def test_pydantic_refuses_values_it_cannot_serialize() -> None:
    """An object pydantic cannot dump raises TypeError at write time."""
    with pytest.raises(TypeError, match="cannot serialize"):
        PydanticSerializer(Any).dumps(object())


def test_both_satisfy_the_protocol() -> None:
    """Both codecs are Serializers; an object without loads is not."""
    assert isinstance(JsonSerializer(), Serializer)
    assert isinstance(PydanticSerializer(int), Serializer)
    assert not isinstance(object(), Serializer)
