"""JSON bodies must carry the types the schema documents: "5" is not a number, 0 is not a text.

DRF's fields coerce what they can ("5" -> 5, 0 -> "0", "true" -> True), which a form post needs
(everything in a form is text) but which lets a JSON client send data the schema says is invalid
and have it stored as something else. Input serializers that take JSON use StrictJsonTypes: a
JSON value of the wrong type is a 400 naming the field. Form and query data (a QueryDict) are
left to the fields' usual parsing.
"""

from __future__ import annotations

from django.http import QueryDict
from rest_framework import serializers


def _wrong_type(field: serializers.Field, value) -> str | None:
    """Why `value`, as parsed from JSON, is not of the type `field` documents; None when it is."""
    if value is None:
        return None  # allow_null is the field's own rule
    if isinstance(field, (serializers.JSONField, serializers.DictField, serializers.HiddenField)):
        return None
    if isinstance(field, serializers.ListSerializer):
        return None if isinstance(value, list) else "a list"  # its items are checked by the child serializer
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return "a list"
        return next((problem for item in value if (problem := _wrong_type(field.child, item))), None)
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if isinstance(field, (serializers.FloatField, serializers.DecimalField)):
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    if isinstance(field, serializers.ChoiceField):
        choices_are_text = all(isinstance(key, str) for key in field.choices)
        return None if not choices_are_text or isinstance(value, str) else "a text"
    if isinstance(field, serializers.CharField):
        return None if isinstance(value, str) else "a text"
    if isinstance(field, serializers.BaseSerializer) and not getattr(field, "many", False):
        return None if isinstance(value, dict) else "an object"
    return None


# Serializer context for data a browser form posted (all text, parsed by the fields as DRF parses forms).
FORM_INPUT = {"form_input": True}


class StrictJsonTypes:
    """Mixin for input serializers: refuse JSON values of the wrong type before the fields coerce them."""

    def to_internal_value(self, data):
        if isinstance(data, dict) and not isinstance(data, QueryDict) and not self.context.get("form_input"):
            errors = {}
            for name, field in self.fields.items():
                if field.read_only or name not in data:
                    continue
                if expected := _wrong_type(field, data[name]):
                    errors[name] = [f"Must be {expected}, not {type(data[name]).__name__}."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class QueryParams(serializers.Serializer):
    """Base of query-string filters: an empty value (`?kind=`) is that value, refused unless the field
    allows blank, instead of the absent filter DRF's form parsing makes of it (a client that sent
    `?kind=` and got every kind would be misled)."""

    def to_internal_value(self, data):
        if isinstance(data, QueryDict):
            data = {key: data.get(key) for key in data}
        return super().to_internal_value(data)
